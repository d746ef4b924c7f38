"""Build the uploadable zips, one per pack and marketplace, with `demisto-sdk prepare-content` (what `make zip` runs).

    python tools/build_zips.py -o build Packs/ThreatMon Packs/ThreatMonThreatFeed

writes, for each pack,

    build/uploadable_packs/<Pack>.zip                   prepared for Cortex XSOAR (-mp xsoar)
    build/uploadable_packs/marketplacev2/<Pack>.zip     prepared for Cortex XSIAM (-mp marketplacev2)
    build/uploadable_packs/platform/<Pack>.zip          prepared for the Cortex platform (-mp platform)

Why not `demisto-sdk zip-packs`: in demisto-sdk 1.39.13 it copies every content item as written, so a key meant for
one marketplace (`closeReason:marketplacev2`, `closeReason:platform` in the alarm playbook) reaches every product
unresolved. `prepare-content -mp <marketplace>` keeps only that marketplace's key under the plain name, leaves out
the items that do not ship to it, and unifies each integration (code, image and the inlined ThreatMonApiModule in
its yml), as zip-packs did. It leaves out the pack's test playbooks; zip-packs kept them, so each test playbook is
prepared for the same marketplace and added under TestPlaybooks/, as before. It adds doc_files/ (the playbook
image); zip-packs did not, so it is left out: the zips hold the same files as before.

The three marketplaces run in parallel, one prepare-content run each over every pack and test playbook. The exit
status is 1, with demisto-sdk's output, when a run fails or a zip is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

# The marketplaces the packs ship to (pack_metadata.json); xsoar's zips are the ones in uploadable_packs/ itself.
MARKETPLACES = ("xsoar", "marketplacev2", "platform")
SDK = Path(sys.executable).parent / "demisto-sdk"
REPO = Path(__file__).resolve().parents[1]  # demisto-sdk runs in the repository (its content root)


def zip_folder(build: Path, marketplace: str) -> Path:
    """Where the zips prepared for this marketplace go."""
    uploadable = build / "uploadable_packs"
    return uploadable if marketplace == "xsoar" else uploadable / marketplace


def test_playbooks(pack: Path, marketplace: str) -> list[Path]:
    """The pack's test playbooks that ship to this marketplace (no `marketplaces` key: every marketplace)."""
    found = []
    for path in sorted((pack / "TestPlaybooks").glob("*.yml")):
        marketplaces = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("marketplaces")
        if not marketplaces or marketplace in marketplaces:
            found.append(path)
    return found


def repack(prepared: Path, target: Path, playbooks: list[Path]) -> Path:
    """Write the prepared zip to target without doc_files/ (the playbook images, which the zips never held: only the
    playbook READMEs, which stay out of the zip, show them) and with the prepared test playbooks under TestPlaybooks/."""
    with zipfile.ZipFile(prepared) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            if not entry.filename.startswith("doc_files/"):
                archive.writestr(entry, source.read(entry))
        if playbooks:
            archive.writestr("TestPlaybooks/", "")
        for path in playbooks:
            archive.write(path, f"TestPlaybooks/{path.name}")
    prepared.unlink()
    return target


def build(packs: list[Path], out: Path, marketplaces: tuple[str, ...] = MARKETPLACES) -> dict[str, list[Path]]:
    """marketplace -> the zips written for it, one per pack. Raises RuntimeError when a run fails or a zip is missing."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}  # no coverage in the child
    env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
    packs = [pack.resolve() for pack in packs]
    staging = out.resolve() / "prepare-content"
    runs = {}
    for marketplace in marketplaces:
        # prepare-content writes each input to <output>/<its folder or file name> (a pack as <name>.zip).
        inputs = [str(pack) for pack in packs] + [str(path) for pack in packs for path in test_playbooks(pack, marketplace)]
        folder = staging / marketplace
        folder.mkdir(parents=True, exist_ok=True)
        command = [str(SDK), "prepare-content", "-i", ",".join(inputs), "-mp", marketplace, "-o", str(folder), "-f"]
        process = subprocess.Popen(  # noqa: S603  (our own venv tools)
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        runs[marketplace] = (folder, process)
    built: dict[str, list[Path]] = {}
    problems = []
    for marketplace, (folder, process) in runs.items():
        output, _ = process.communicate(timeout=600)
        target = zip_folder(out, marketplace)
        target.mkdir(parents=True, exist_ok=True)
        zips = []
        for pack in packs:
            prepared = folder / f"{pack.name}.zip"
            if process.returncode or not prepared.is_file():
                problems.append(f"prepare-content -mp {marketplace} did not produce {pack.name}.zip:\n{output}")
                continue
            zips.append(
                repack(prepared, target / prepared.name, [folder / path.name for path in test_playbooks(pack, marketplace)])
            )
        built[marketplace] = zips
    shutil.rmtree(staging, ignore_errors=True)
    if problems:
        raise RuntimeError("\n".join(problems))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build each pack's uploadable zip for every marketplace it ships to.")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the build folder (zips go in <it>/uploadable_packs)")
    parser.add_argument("packs", nargs="+", type=Path, help="the pack folders, e.g. Packs/ThreatMon")
    options = parser.parse_args(argv)
    try:
        built = build(options.packs, options.output)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    for marketplace, zips in built.items():
        for path in zips:
            print(f"Uploadable pack ({marketplace}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
