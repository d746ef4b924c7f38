"""Show a run's results the way a person reads them, with every credential masked.

Entries are shown by their readable (markdown) text, with markdown tables re-aligned into plain
columns; incidents as a short table (code, severity, occurred, name); indicators as a short table.
No table line is longer than TABLE_WIDTH (100) characters: cells wrap, and a table too wide for its
columns side by side continues below with the rest of them.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from runner.core import ERROR_ENTRY_TYPE, FETCH_COMMANDS, MirrorCycle, RunResult

MASK = "********"
SENSITIVE_WORDS = ("key", "password", "secret", "token", "credential", "private")
SEVERITY_WORDS = {0: "Unknown", 0.5: "Info", 1: "Low", 2: "Medium", 3: "High", 4: "Critical"}
TABLE_WIDTH = 100  # no table line is longer: cells wrap, and a table too wide continues below
LONG_WORD = 20  # a column keeps at least its longest word up to this length (a timestamp is 20)
COMFORTABLE = 24  # a table goes on below when its columns cannot all have this width (or less, if enough) side by side
GAP = 2  # spaces between columns


def secrets_of(params: dict) -> list[str]:
    """Every value of a sensitive-looking parameter (recursively), with its URL-quoted forms."""
    found: list[str] = []

    def walk(obj, sensitive: bool) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, sensitive or any(w in str(key).lower() for w in SENSITIVE_WORDS))
        elif isinstance(obj, list):
            for value in obj:
                walk(value, sensitive)
        elif sensitive and isinstance(obj, str) and len(obj) >= 4:
            found.extend({obj, quote(obj, safe=""), quote_plus(obj), json.dumps(obj)[1:-1]})

    walk(params, False)
    return sorted(set(found), key=len, reverse=True)


def masker(secrets: Iterable[str]):
    secrets = [s for s in secrets if s]

    def mask(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    return mask


def _words_width(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters: at spaces, and inside a word only when it is longer."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _fit(natural: list[int], unbroken: list[int], minimum: list[int], budget: int) -> list[int]:
    """Column widths within ``budget`` characters: the widest column gives up a character first, down to its
    longest word (``unbroken``: no word breaks); if that is not enough, down to ``minimum`` (a word longer than
    LONG_WORD breaks); past that, only if nothing else can, any word breaks."""
    widths = list(natural)
    for floor in (unbroken, minimum, [4] * len(widths)):
        while sum(widths) > budget:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return widths


def _blocks(minimum: list[int], budget: int) -> list[list[int]]:
    """Column indexes per block, the first column (the row's key) in every block, each block's ``minimum``
    widths within the budget (a single column too wide for it stays a block of its own)."""
    blocks: list[list[int]] = []
    current = [0]
    for i in range(1, len(minimum)):
        candidate = [*current, i]
        if len(current) > 1 and sum(minimum[c] for c in candidate) + GAP * (len(candidate) - 1) > budget:
            blocks.append(current)
            current = [0, i]
        else:
            current = candidate
    blocks.append(current)
    return blocks


def _lines(texts: list[list[str]], widths: list[int]) -> list[str]:
    """Header, rule and rows with every cell wrapped to its column; a blank line between rows when one wraps."""
    wrapped = [[_wrap(cell, w) for cell, w in zip(row, widths, strict=True)] for row in texts]

    def physical(row: list[list[str]]) -> list[str]:
        height = max(len(cell) for cell in row)
        return [
            (" " * GAP).join((cell[k] if k < len(cell) else "").ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for k in range(height)
        ]

    lines = physical(wrapped[0])
    lines.append((" " * GAP).join("-" * w for w in widths))
    tall = any(max(len(cell) for cell in row) > 1 for row in wrapped[1:])
    for number, row in enumerate(wrapped[1:]):
        if tall and number:
            lines.append("")
        lines += physical(row)
    return lines


def table(rows: list[list], headers: list[str], max_total: int = TABLE_WIDTH) -> str:
    """Rows in aligned columns, no line longer than ``max_total``: long cells wrap onto more lines, and a table
    whose columns cannot all fit side by side continues below with the rest of its columns (the first
    column repeated, so each row can be followed)."""
    texts = [[" ".join(str(c).split()) for c in row] for row in [headers, *rows]]
    texts = [(row + [""] * len(headers))[: len(headers)] for row in texts]
    count = len(headers)
    natural = [max(len(r[i]) for r in texts) for i in range(count)]
    unbroken = [max(_words_width(r[i]) for r in texts) for i in range(count)]
    minimum = [
        max(_words_width(texts[0][i]), min(max(_words_width(r[i]) for r in texts[1:]) if texts[1:] else 0, LONG_WORD))
        for i in range(count)
    ]
    comfortable = [min(n, max(m, COMFORTABLE)) for n, m in zip(natural, minimum, strict=True)]
    budget = max_total - GAP * (count - 1)
    if sum(comfortable) <= budget or count == 1:
        return "\n".join(_lines(texts, _fit(natural, unbroken, minimum, budget)))
    parts = []
    for block in _blocks(comfortable, max_total):
        sub = [[row[i] for i in block] for row in texts]
        widths = _fit(
            *([column[i] for i in block] for column in (natural, unbroken, minimum)), max_total - GAP * (len(block) - 1)
        )
        parts.append("\n".join(_lines(sub, widths)))
    return "\n\n".join(parts)


def _split_row(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def render_markdown(text: str, width: int = TABLE_WIDTH) -> str:
    """Markdown as plain text: tables aligned in columns (within ``width``), headings underlined, emphasis dropped."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        is_table = line.lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1])
        if is_table:
            headers = _split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                row = _split_row(lines[i])
                rows.append((row + [""] * len(headers))[: len(headers)])
                i += 1
            out.append(table(rows, headers, width))
            continue
        heading = re.match(r"^\s*#{1,6}\s+(.*)$", line)
        if heading:
            title = heading.group(1).replace("**", "").strip()
            out += [title, "~" * len(title)]
        else:
            out.append(line.replace("**", ""))
        i += 1
    return "\n".join(out)


def render_entries(entries: list[dict], width: int = TABLE_WIDTH) -> str:
    parts = []
    for entry in entries:
        readable = entry.get("HumanReadable")
        contents = entry.get("Contents")
        if entry.get("Type") == ERROR_ENTRY_TYPE:
            parts.append(f"ERROR: {contents}")
        elif readable:
            parts.append(render_markdown(str(readable), width))
        elif isinstance(contents, str):
            is_markdown = entry.get("ContentsFormat") == "markdown"
            parts.append(render_markdown(contents, width) if is_markdown else contents)
        else:
            parts.append(render_object(contents))
    return "\n\n".join(parts)


def render_object(obj, indent: int = 0) -> str:
    """An object a command returned (get-mapping-fields' fields, for example) as indented ``key: value`` lines."""
    pad = " " * indent
    if isinstance(obj, dict) and obj:
        lines = []
        for key, value in obj.items():
            if isinstance(value, dict | list) and value:
                lines += [f"{pad}{key}:", render_object(value, indent + 2)]
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}")
        return "\n".join(lines)
    if isinstance(obj, list) and obj:
        lines = []
        for value in obj:
            if isinstance(value, dict | list) and value:
                nested = render_object(value, indent + 2)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(value)}")
        return "\n".join(lines)
    return pad + _scalar(obj)


def _scalar(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict | list):
        return "(empty)"
    return str(value)


def _alarm_code(incident: dict) -> str:
    code = incident.get("dbotMirrorId")
    if code in (None, ""):
        try:
            raw = json.loads(incident.get("rawJSON") or "{}")
            code = raw.get("alarmCode", "")
        except (TypeError, ValueError):
            code = ""
    return str(code)


def incidents_table(incidents: list[dict], limit: int | None = None, width: int = TABLE_WIDTH) -> str:
    shown = incidents if limit is None else incidents[:limit]
    rows = [
        [
            _alarm_code(inc),
            SEVERITY_WORDS.get(inc.get("severity"), str(inc.get("severity", ""))),
            inc.get("occurred", ""),
            inc.get("name", ""),
        ]
        for inc in shown
    ]
    text = table(rows, ["code", "severity", "occurred", "name"], width)
    if limit is not None and len(incidents) > limit:
        text += f"\n... and {len(incidents) - limit} more"
    return text


def indicators_table(indicators: list[dict], limit: int | None = 20, width: int = TABLE_WIDTH) -> str:
    shown = indicators if limit is None else indicators[:limit]
    rows = [[ind.get("value", ""), ind.get("type", ""), ind.get("score", "")] for ind in shown]
    text = table(rows, ["value", "type", "score"], width)
    if limit is not None and len(indicators) > limit:
        text += f"\n... and {len(indicators) - limit} more"
    return text


def _last_run_lines(result: RunResult) -> list[str]:
    """The lastRun when this run saved it; for a fetch command that did not, a line that says so."""
    if result.last_run_set:
        return ["lastRun saved: " + json.dumps(result.last_run, sort_keys=True)]
    if result.command not in FETCH_COMMANDS:
        return []
    why = "the run failed, and XSOAR commits nothing of a failed fetch" if result.error else "the run did not set one"
    return [f"lastRun not saved ({why}); the next run gets the previous one: {json.dumps(result.last_run, sort_keys=True)}"]


def render_result(
    result: RunResult, secrets: Iterable[str] = (), verbose: bool = False, incident_limit: int = 50, width: int = TABLE_WIDTH
) -> str:
    """The whole result of a run, as text (tables within ``width`` columns), credentials masked."""
    mask = masker(secrets)
    parts = []
    if result.entries:
        parts.append(render_entries(result.entries, width))
    if result.command == "fetch-incidents" or result.incidents:
        parts.append(f"{len(result.incidents)} incident(s)")
        if result.incidents:
            parts.append(incidents_table(result.incidents, incident_limit, width))
    if result.command == "fetch-indicators" or result.indicators:
        # the batches count what createIndicators received, also when the runner keeps no indicators
        parts.append(f"{max(len(result.indicators), sum(result.indicator_batches))} indicator(s)")
        if result.indicators:
            parts.append(indicators_table(result.indicators, width=width))
    parts += _last_run_lines(result)
    if result.error and not any(e.get("Type") == ERROR_ENTRY_TYPE for e in result.entries):
        parts.append(f"ERROR: {result.error}")
    if verbose:
        parts.append("\n".join(f"[{level}] {message}" for level, message in result.logs) or "(no log lines)")
        if result.traceback:
            parts.append(result.traceback)
    return mask("\n\n".join(parts))


def render_mirror_cycle(cycle: MirrorCycle, secrets: Iterable[str] = (), verbose: bool = False) -> str:
    """An incoming-mirroring cycle: the ids get-modified-remote-data returned, then what get-remote-data answered for
    each (the mirrored status, and the close when there is one), credentials masked."""
    mask = masker(secrets)
    since = cycle.modified.args.get("lastUpdate")
    if not cycle.modified.ok:
        parts = [f"get-modified-remote-data (lastUpdate {since}) failed: {cycle.modified.error}"]
    else:
        parts = [f"get-modified-remote-data (lastUpdate {since}): {len(cycle.ids)} changed: {', '.join(cycle.ids) or '-'}"]
    updates, closes = cycle.updates, cycle.closes
    for remote_id, run in cycle.remote.items():
        if not run.ok:
            parts.append(f"get-remote-data {remote_id}: ERROR: {run.error}")
            continue
        update = updates.get(remote_id)
        line = f"get-remote-data {remote_id}: " + (json.dumps(update, sort_keys=True) if update else "nothing to update")
        close = closes.get(remote_id)
        if close:
            line += f"; closes the incident (reason {close.get('closeReason')}): {close.get('closeNotes')}"
        parts.append(line)
    if verbose:
        for run in [cycle.modified, *cycle.remote.values()]:
            parts.append("\n".join(f"[{level}] {message}" for level, message in run.logs) or "(no log lines)")
    return mask("\n".join(parts))
