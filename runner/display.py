"""Show a run's results the way a person reads them, with every credential masked.

Entries are shown by their readable (markdown) text, with markdown tables re-aligned into plain
columns; incidents as a short table (code, severity, occurred, name); indicators as a short table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from runner.core import ERROR_ENTRY_TYPE, FETCH_COMMANDS, RunResult

MASK = "********"
SENSITIVE_WORDS = ("key", "password", "secret", "token", "credential", "private")
SEVERITY_WORDS = {0: "Unknown", 0.5: "Info", 1: "Low", 2: "Medium", 3: "High", 4: "Critical"}
CELL_WIDTH = 60
TABLE_WIDTH = 160  # columns narrow down until a table fits in this many characters


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


def _cell(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[list], headers: list[str], width: int = CELL_WIDTH, max_total: int = TABLE_WIDTH) -> str:
    """Rows in aligned columns; cells longer than ``width`` are cut, narrower still if the table is too wide."""
    texts = [[" ".join(str(c).split()) for c in row] for row in [headers, *rows]]
    natural = [max(len(r[i]) for r in texts) for i in range(len(headers))]
    while width > 12 and sum(min(n, width) for n in natural) + 2 * (len(headers) - 1) > max_total:
        width -= 4
    cells = [[_cell(c, width) for c in row] for row in texts]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells[1:]]
    return "\n".join(lines)


def _split_row(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def render_markdown(text: str, width: int = CELL_WIDTH) -> str:
    """Markdown as plain text: tables aligned in columns, headings underlined, emphasis dropped."""
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


def render_entries(entries: list[dict]) -> str:
    parts = []
    for entry in entries:
        readable = entry.get("HumanReadable")
        contents = entry.get("Contents")
        if entry.get("Type") == ERROR_ENTRY_TYPE:
            parts.append(f"ERROR: {contents}")
        elif readable:
            parts.append(render_markdown(str(readable)))
        elif isinstance(contents, str):
            is_markdown = entry.get("ContentsFormat") == "markdown"
            parts.append(render_markdown(contents) if is_markdown else contents)
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


def incidents_table(incidents: list[dict], limit: int | None = None) -> str:
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
    text = table(rows, ["code", "severity", "occurred", "name"], width=70)
    if limit is not None and len(incidents) > limit:
        text += f"\n... and {len(incidents) - limit} more"
    return text


def indicators_table(indicators: list[dict], limit: int | None = 20) -> str:
    shown = indicators if limit is None else indicators[:limit]
    rows = [[ind.get("value", ""), ind.get("type", ""), ind.get("score", "")] for ind in shown]
    text = table(rows, ["value", "type", "score"], width=70)
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


def render_result(result: RunResult, secrets: Iterable[str] = (), verbose: bool = False, incident_limit: int = 50) -> str:
    """The whole result of a run, as text, credentials masked."""
    mask = masker(secrets)
    parts = []
    if result.entries:
        parts.append(render_entries(result.entries))
    if result.command == "fetch-incidents" or result.incidents:
        parts.append(f"{len(result.incidents)} incident(s)")
        if result.incidents:
            parts.append(incidents_table(result.incidents, incident_limit))
    if result.indicators:
        parts.append(f"{len(result.indicators)} indicator(s)")
        parts.append(indicators_table(result.indicators))
    parts += _last_run_lines(result)
    if result.error and not any(e.get("Type") == ERROR_ENTRY_TYPE for e in result.entries):
        parts.append(f"ERROR: {result.error}")
    if verbose:
        parts.append("\n".join(f"[{level}] {message}" for level, message in result.logs) or "(no log lines)")
        if result.traceback:
            parts.append(result.traceback)
    return mask("\n\n".join(parts))
