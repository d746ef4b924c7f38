"""`make upstream CONTENT=<checkout>`: write the pull request to demisto/content into a checkout of it.

    python tools/upstream.py /path/to/content

What the pull request carries, and nothing else of this repository:

- `Packs/ThreatMon` and `Packs/ThreatMonThreatFeed`, replacing content's folders of the same names. Content's older
  release notes (`ReleaseNotes/1_0_*.md`, the 1.x history) and its `CONTRIBUTORS.json` stay; every other file of
  content's copy that this repository does not have is removed (it would be 1.x code left beside 2.x).
- `Packs/ApiModules/Scripts/ThreatMonApiModule`, a new module in content's ApiModules pack. Content's own
  `Packs/ApiModules/pack_metadata.json` is kept, with its `currentVersion` raised by one revision, and this
  repository's ApiModules release note is added at that version, as content wants for a new module. Run again, it
  finds its own release note in place and raises nothing.

It prints each file it added (A), changed (M) or removed (D), relative to the checkout. Nothing is committed: review
the changes there (`git status`) and open the pull request from there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_FOLDERS = ("Packs/ThreatMon", "Packs/ThreatMonThreatFeed")
MODULE_FOLDER = "Packs/ApiModules/Scripts/ThreatMonApiModule"
API_MODULES = "Packs/ApiModules"
KEPT_AT_PACK_ROOT = "CONTRIBUTORS.json"  # content's record of who contributed to the pack
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".coverage*", "conftest.py")


class UpstreamError(Exception):
    """The checkout cannot take the pull request; the message says why."""


def fingerprints(root: Path, folders: list[str]) -> dict[str, str]:
    """relative path -> sha256 of every file under the folders (or of the file itself)."""
    found = {}
    for folder in folders:
        base = root / folder
        paths = [base] if base.is_file() else sorted(path for path in base.rglob("*") if path.is_file())
        for path in paths:
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def release_notes(folder: Path) -> dict[str, Path]:
    return {path.name: path for path in sorted((folder / "ReleaseNotes").glob("*"))} if (folder / "ReleaseNotes").is_dir() else {}


def replace_pack(source: Path, target: Path) -> None:
    """Our pack folder in place of content's, keeping content's release notes that ours do not have (the history) and
    its CONTRIBUTORS.json."""
    history = {f"ReleaseNotes/{name}": path for name, path in release_notes(target).items() if name not in release_notes(source)}
    if (target / KEPT_AT_PACK_ROOT).is_file() and not (source / KEPT_AT_PACK_ROOT).exists():
        history[KEPT_AT_PACK_ROOT] = target / KEPT_AT_PACK_ROOT
    kept = {relative: path.read_bytes() for relative, path in history.items()}
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=CACHES)
    for relative, data in kept.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(data)


def version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.removesuffix(".md").split("_") if part.isdigit())


def next_revision(version: str) -> str:
    try:
        major, minor, revision = (int(part) for part in version.split("."))
    except ValueError:
        raise UpstreamError(f"content's ApiModules currentVersion {version!r} is not MAJOR.MINOR.REVISION") from None
    return f"{major}.{minor}.{revision + 1}"


def add_api_module(repo: Path, content: Path) -> None:
    """The module folder, and content's ApiModules pack one revision up with our release note at that version."""
    target = content / MODULE_FOLDER
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(repo / MODULE_FOLDER, target, ignore=CACHES)
    ours = release_notes(repo / API_MODULES)
    if not ours:
        raise UpstreamError(f"{API_MODULES}/ReleaseNotes holds no release note of ThreatMonApiModule")
    note = ours[max(ours, key=version_key)].read_text(encoding="utf-8")
    metadata_path = content / API_MODULES / "pack_metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    version = metadata.get("currentVersion", "")
    current = content / API_MODULES / "ReleaseNotes" / f"{version.replace('.', '_')}.md"
    if current.is_file() and current.read_text(encoding="utf-8") == note:
        return  # written by an earlier run: nothing to raise
    version = next_revision(version)
    metadata["currentVersion"] = version
    metadata_path.write_text(json.dumps(metadata, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
    (content / API_MODULES / "ReleaseNotes").mkdir(exist_ok=True)
    (content / API_MODULES / "ReleaseNotes" / f"{version.replace('.', '_')}.md").write_text(note, encoding="utf-8")


def write_pull_request(content: Path, repo: Path = REPO) -> list[str]:
    """Write the pull request into the checkout; returns the changed files as 'A path', 'M path' or 'D path'."""
    if not (content / API_MODULES / "pack_metadata.json").is_file():
        raise UpstreamError(
            f"{content} is not a demisto/content checkout: it has no {API_MODULES}/pack_metadata.json "
            "(CONTENT must name the root of a clone of demisto/content)"
        )
    watched = [*PACK_FOLDERS, API_MODULES]
    before = fingerprints(content, [folder for folder in watched if (content / folder).exists()])
    for folder in PACK_FOLDERS:
        replace_pack(repo / folder, content / folder)
    add_api_module(repo, content)
    after = fingerprints(content, watched)
    changes = [f"A {path}" for path in after if path not in before]
    changes += [f"M {path}" for path in after if path in before and before[path] != after[path]]
    changes += [f"D {path}" for path in before if path not in after]
    return sorted(changes, key=lambda line: line[2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the ThreatMon pull request into a demisto/content checkout.")
    parser.add_argument("content", type=Path, help="the root of a demisto/content checkout")
    options = parser.parse_args(argv)
    try:
        changes = write_pull_request(options.content.resolve())
    except UpstreamError as error:
        print(f"make upstream: {error}", file=sys.stderr)
        return 1
    for line in changes:
        print(line)
    print(f"make upstream: {len(changes)} file(s) changed in {options.content} (nothing committed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
