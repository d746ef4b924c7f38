"""Each integration README's command section as `demisto-sdk generate-docs` writes it, with our examples kept.

    python tools/readme_commands.py          # rewrite the command sections of both integration READMEs
    python tools/readme_commands.py --check  # exit 1 naming each README whose command section differs

generate-docs writes, for every command of the yml (the mirroring commands included), its description, base command,
input table and context output table. It cannot write the examples without a live server, so what we add to a command
follows the generated part, taken from the README as it is: our notes (`#### Notes`) and the examples
(`#### Command example`, `#### Context Example`, `#### Human Readable Output`). Everything outside `## Commands`
(configuration, our own sections) is left alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INTEGRATIONS = (
    REPO / "Packs/ThreatMon/Integrations/ThreatMon",
    REPO / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed",
)
SDK = Path(sys.executable).parent / "demisto-sdk"
EXAMPLE_START = "#### Command example"
NOTES_START = "#### Notes"


def commands_section(text: str) -> tuple[int, int]:
    """Where `## Commands` starts and where the next second-level section starts (or the text ends)."""
    start = text.index("\n## Commands\n") + 1
    following = re.search(r"^## ", text[start + 3 :], re.M)
    return start, start + 3 + following.start() if following else len(text)


def split_commands(section: str) -> tuple[str, dict[str, str]]:
    """(the text before the first command, {command name: its text from `### name`})."""
    parts = re.split(r"^(?=### )", section, flags=re.M)
    return parts[0], {part.split("\n", 1)[0][4:].strip(): part for part in parts[1:]}


def generated(integration: Path) -> str:
    """The `## Commands` section generate-docs writes for the integration's yml."""
    with tempfile.TemporaryDirectory() as out:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
        env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
        command = [str(SDK), "generate-docs", "-i", str(integration / f"{integration.name}.yml"), "-o", out]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        readme = Path(out) / "README.md"
        if done.returncode or not readme.is_file():
            raise RuntimeError(f"generate-docs failed on {integration.name}:\n{done.stdout}{done.stderr}")
        text = readme.read_text(encoding="utf-8")
    start, end = commands_section(text)
    return text[start:end]


def composed(readme: str, section: str) -> str:
    """The README with its command section replaced by the generated one, each command followed by its examples."""
    start, end = commands_section(readme)
    _, ours = split_commands(readme[start:end])
    intro, commands = split_commands(section)
    parts = [intro]
    for name, text in commands.items():
        extra = [block for block in (notes_of(ours.get(name, "")), examples_of(ours.get(name, ""))) if block]
        parts.append("\n\n".join([text.rstrip("\n"), *extra]) + "\n\n")
    return readme[:start] + "".join(parts) + readme[end:]


def notes_of(section: str) -> str:
    """Our notes on a command: its `#### Notes` block, or (in a README not yet composed) the paragraphs between the
    description and `#### Base Command`, which generate-docs does not write."""
    if NOTES_START in section:
        notes = section[section.index(NOTES_START) + len(NOTES_START) :]
        return NOTES_START + "\n\n" + notes.split(EXAMPLE_START)[0].strip("\n") if notes.strip() else ""
    head = section.split("#### Base Command")[0]
    paragraphs = head.split("***", 1)[-1].strip("\n").split("\n\n")[1:]
    return NOTES_START + "\n\n" + "\n\n".join(paragraphs).strip("\n") if paragraphs else ""


def examples_of(section: str) -> str:
    return section[section.index(EXAMPLE_START) :].rstrip("\n") if EXAMPLE_START in section else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Command sections of the integration READMEs, as generate-docs writes them.")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when a README differs")
    options = parser.parse_args(argv)
    stale = []
    for integration in INTEGRATIONS:
        readme = integration / "README.md"
        text = readme.read_text(encoding="utf-8")
        wanted = composed(text, generated(integration))
        if wanted == text:
            continue
        if options.check:
            stale.append(str(readme.relative_to(REPO)))
        else:
            readme.write_text(wanted, encoding="utf-8")
            print(f"rewrote the command section of {readme.relative_to(REPO)}")
    for path in stale:
        print(f"{path}: its command section is not what generate-docs writes (run python tools/readme_commands.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
