"""Run a demisto-sdk command and pass its output through, except one misleading summary and two kinds of noise.

    python tools/sdk_summary.py .venv/bin/demisto-sdk validate -i Packs/ThreatMon --config-path validation_config.toml

`make validate` runs demisto-sdk through it, and tools/code_checks.py runs `secrets` through run().

Noise, dropped at the source of what make prints:
- "Could not get repository properties: ...": demisto-sdk warns so on every content item when the clone's origin is
  not a GitHub or GitLab URL (a local path, or no origin); it looks there only for the upstream repository's settings
  and goes on with its defaults, so nothing is lost (dropped whatever the command's outcome).
- Colour codes: demisto-sdk colours its log lines even when they go to a file or a CI log (its own switch,
  DEMISTO_SDK_LOG_NO_COLORS, prints the colour tags instead). When the output is not a terminal (or NO_COLOR is
  set), the codes are removed from every line.

Why: after "All validations passed." demisto-sdk 1.39.13's validate logs a red "Validate summary" saying "The
following errors were thrown as a part of this pr: ." and a note about force-merging a pull request. Its
``summarize_validation_results`` always adds the AG100 force-merge sentence to the error text, so the text is
never empty and the summary is logged as an error on every run, even with no failing error code (the list
after "thrown as a part of this pr:" is then empty).

What this does: when the command succeeds and that list is empty, the summary (from "Validate summary" to the
end) is replaced by one line saying that nothing failed; a warnings line in it is kept. When the command fails,
or the summary lists any error code, everything is shown unchanged. The exit status is the command's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence

ANSI = re.compile(r"\x1b\[[0-9;]*m")
REPOSITORY_NOISE = "Could not get repository properties:"
SUMMARY_START = "Validate summary"
EMPTY_LIST = re.compile(r"The following errors were thrown as a part of this pr: *\.\s*$")
WARNINGS = "The following errors were reported as warnings:"
NOTHING_FAILED = (
    "Validate summary: nothing failed. (demisto-sdk prints a red 'errors were thrown' summary after every run; "
    "this time it listed no error code, so it was left out.)"
)


def plain(line: str) -> str:
    return ANSI.sub("", line).strip()


def summary_replacement(summary: list[str], returncode: int) -> list[str]:
    """What to print instead of the buffered summary lines (they are kept unless nothing failed)."""
    if returncode != 0 or not any(EMPTY_LIST.search(plain(line)) for line in summary):
        return summary
    kept = [plain(line) + "\n" for line in summary if plain(line).startswith(WARNINGS)]
    return [*kept, NOTHING_FAILED + "\n"]


def colours_wanted(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def run(argv: Sequence[str], cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command, its output passed through with the noise and an empty validate summary left out."""
    colours = colours_wanted()

    def write(lines: list[str]) -> None:
        sys.stdout.writelines(line if colours else ANSI.sub("", line) for line in lines)
        sys.stdout.flush()

    with subprocess.Popen(  # noqa: S603
        argv, stdout=subprocess.PIPE, text=True, errors="replace", cwd=cwd, env=env
    ) as child:
        assert child.stdout is not None  # stdout=PIPE
        summary: list[str] = []
        for line in child.stdout:
            if plain(line).startswith(REPOSITORY_NOISE):
                continue
            if summary or plain(line) == SUMMARY_START:
                summary.append(line)
            else:
                write([line])
        returncode = child.wait()
    write(summary_replacement(summary, returncode))
    return returncode


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python tools/sdk_summary.py DEMISTO-SDK-COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
