"""demisto-sdk's own backward-compatibility and release-notes checks on the packs, against the 1.x packs (``make bc``).

demisto-sdk judges backward compatibility only with git: ``validate -g --prev-ver REF`` compares each changed
content item with its version at REF, and runs most release-notes checks (RN111 the docker line, RN113-RN116 the
headers, RN105, PA114 the version) only on release notes that the git diff marks added. This script gives it that
history in a throwaway repository under the system's temp folder:

1. branch ``baseline``: the 1.x packs generated from ``contract_1x.yml`` (integration yml files at their
   marketplace paths, a code stub each, pack_metadata.json with the 1.x versions);
2. branch ``current``: the same repository with this repository's ``Packs/`` copied over the baseline packs;
3. ``origin/baseline`` points at the baseline (demisto-sdk 1.39.13 always compares against ``origin/<REF>``,
   and looks the remote up even when REF names a local branch), and demisto-sdk runs offline with the BC and
   release-notes checks of ``bc_validation_config.toml`` selected. Against the 1.x versions (1.0.7, 1.0.1) the
   2.0.0 release notes are added, so RN111 wants a docker line exactly when an integration's image differs from
   its 1.x image, naming the yml's image.

Every error fails the check except BC106 (``fromversion`` changed), waived only while the pack's release
notes for its current version name the new fromversion. An integration of 1.x that is missing from ``Packs/``
fails too: demisto-sdk does not judge deleted files. The throwaway repository is removed at the end.

    python tests/compat/bc_check.py            # exit 0 when the packs pass, 1 with the reasons otherwise
    python tests/compat/bc_check.py --keep     # keep the throwaway repository to look into it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import compat_contract as compat

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "bc_validation_config.toml"
BASELINE, CURRENT = "baseline", "current"
# The only BC error that may pass, and why: the release notes declare the new minimum server version.
WAIVED = {"BC106"}
API_MODULES_METADATA = "Packs/ApiModules/pack_metadata.json"
# Warnings of content's selection that its reviewers settle in the pull request (see judge).
APPROVED_IN_REVIEW = {"BC117"}
SDK_TIMEOUT_S = 300
GIT = ("git", "-c", "user.name=bc-check", "-c", "user.email=bc-check@localhost", "-c", "commit.gpgsign=false")
GIT += ("-c", "core.hooksPath=/dev/null", "-c", "init.defaultBranch=baseline")


@dataclass
class Finding:
    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.path}: {self.message}"


@dataclass
class BcReport:
    findings: list[Finding] = field(default_factory=list)  # every error demisto-sdk reported
    waived: list[str] = field(default_factory=list)  # the BC106 errors the release notes declare
    approvals: list[str] = field(default_factory=list)  # BC117 on new items: approved in content's review
    failures: list[str] = field(default_factory=list)  # what fails the check, one sentence each
    workdir: Path | None = None  # the throwaway repository (removed unless kept)
    sdk_output: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> set[str]:
        return {finding.code for finding in self.findings}


def sdk_executable() -> str:
    """The demisto-sdk next to the running Python (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "demisto-sdk"
    found = str(beside) if beside.is_file() else shutil.which("demisto-sdk")
    if not found:
        raise FileNotFoundError("demisto-sdk is not installed: run `make install` first")
    return found


def git(repo: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in the throwaway repository: {done.stderr.strip()}")
    return done.stdout.strip()


def _ignore(_folder: str, names: list[str]) -> set[str]:
    return {name for name in names if name in ("__pycache__", ".pytest_cache") or name.endswith(".pyc")}


def content_api_modules(packs_root: Path) -> dict[str, str]:
    """demisto/content's own ApiModules pack, as a pull request finds it: its pack_metadata.json one version below
    ours (this repository's matches content's name, support and author), so the pull request adds
    ThreatMonApiModule and the pack's release note for the next version, as content wants a new module added."""
    ours = packs_root / API_MODULES_METADATA
    if not ours.is_file():
        return {}
    metadata = json.loads(ours.read_text(encoding="utf-8"))
    major, minor, revision = (int(part) for part in metadata["currentVersion"].split("."))
    metadata["currentVersion"] = f"{major}.{minor}.{max(revision - 1, 0)}"
    return {API_MODULES_METADATA: json.dumps(metadata, indent=4) + "\n"}


def build_repository(repo: Path, contract: dict, packs_root: Path) -> dict[str, str]:
    """Create the throwaway repository; returns the baseline files (path -> text)."""
    baseline = compat.baseline_files(contract)
    git(repo, "init", "-q")
    baseline.update(content_api_modules(packs_root))
    compat.write_files(repo, baseline)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "1.x packs, generated from tests/compat/contract_1x.yml")
    git(repo, "checkout", "-q", "-b", CURRENT)
    for pack in contract["packs"]:
        shutil.rmtree(repo / pack["folder"])
    for pack_dir in sorted((packs_root / "Packs").iterdir()):
        if pack_dir.is_dir():
            shutil.copytree(pack_dir, repo / "Packs" / pack_dir.name, ignore=_ignore, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "the packs of this repository")
    git(repo, "remote", "add", "origin", str(repo))
    git(repo, "update-ref", f"refs/remotes/origin/{BASELINE}", BASELINE)
    return baseline


def run_sdk(repo: Path, report_file: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1", "DEMISTO_SDK_CONTENT_PATH": str(repo)}
    # The release-notes checks ask for each note's git status without --prev-ver: demisto-sdk then compares with
    # origin/<DEMISTO_DEFAULT_BRANCH> (default master, which this repository has not).
    env |= {"DEMISTO_DEFAULT_BRANCH": BASELINE, "DEMISTO_DEFAULT_REMOTE": "origin"}
    for name in ("CONTRIB_BRANCH", "DEMISTO_SDK_OFFLINE_ENV", "DEMISTO_SDK_PRIVATE_REPO_MODE"):
        env.pop(name, None)  # each would change what validate -g does
    # No coverage in the child (pytest-cov passes COV_CORE_* down): run in the throwaway repo, it would write line
    # data that the suite's branch data cannot combine with.
    env = {key: value for key, value in env.items() if not key.startswith("COV_CORE_")}
    command = [sdk_executable(), "validate", "-g", "--prev-ver", BASELINE, "--config-path", str(CONFIG)]
    command += ["-j", str(report_file)]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=SDK_TIMEOUT_S, check=False)


def read_findings(report_file: Path) -> tuple[list[Finding], list[str]]:
    """demisto-sdk's JSON report: (the errors, the validations that crashed)."""
    report = json.loads(report_file.read_text(encoding="utf-8"))
    findings = [
        # one line per finding: the release-notes messages span several lines
        Finding(str(item.get("error code")), str(item.get("file path")), " ".join(str(item.get("message")).split()))
        for item in report.get("validations") or []
    ]
    crashed = [json.dumps(item, default=str) for item in report.get("Validations that caught exceptions") or []]
    return findings, crashed


def missing_items(contract: dict, packs_root: Path) -> list[str]:
    """1.x packs and integrations absent from the packs: demisto-sdk sees a deletion and judges nothing."""
    missing = []
    for pack in contract["packs"]:
        paths = [f"{pack['folder']}/pack_metadata.json"] + [i["path"] for i in pack["integrations"]]
        missing += [
            f"{path}: missing, so demisto-sdk cannot compare it with 1.x (the contract test names what it lacks)"
            for path in paths
            if not (packs_root / path).is_file()
        ]
    return missing


def judge(
    findings: list[Finding], contract: dict, packs_root: Path, baseline_paths: frozenset[str] = frozenset()
) -> tuple[list[str], list[str], list[str]]:
    """(failures, waived, approvals): every finding fails except a BC106 whose new fromversion the release notes
    declare, and a BC117 (a warning in content) on an item that 1.x did not have.

    BC117 reports the modules of the Cortex platform an item is shown in when they are more than before. On an item
    1.x had, that is a change to judge, and it fails. A new item that ships to Cortex XSIAM must also ship to the
    platform with the xsiam module (content's BA130), so every such item gets a BC117: content's reviewers approve
    it in the pull request (a product manager's approval), and nothing can resolve it in the pack short of taking
    the item away from XSIAM. Those are listed as approvals to ask for, not failures."""
    by_path = {integration["path"]: (pack, integration) for pack, integration in compat.integrations(contract)}
    failures, waived, approvals = [], [], []
    for finding in findings:
        if (
            finding.code in APPROVED_IN_REVIEW
            and finding.path not in baseline_paths
            and "/" in finding.path.removeprefix("Packs/")
        ):
            approvals.append(str(finding))
            continue
        if finding.code in WAIVED and finding.path in by_path:
            pack, integration = by_path[finding.path]
            state = compat.PackState.read(packs_root, pack)
            notes = compat.release_notes_text(packs_root, pack["folder"], state.metadata)
            undeclared = compat.check_fromversion_declared(integration, state.ymls[finding.path], notes)
            if not undeclared:
                new = state.ymls[finding.path].get("fromversion")
                waived.append(f"{finding.code} {finding.path}: fromversion {integration['fromversion']} -> {new}, declared")
                continue
            failures += [f"{finding}", *undeclared]
            continue
        failures.append(str(finding))
    return failures, waived, approvals


def unseen_items(baseline: dict[str, str], contract: dict, repo: Path, sdk_output: str) -> list[str]:
    """Integrations that differ from 1.x but that demisto-sdk did not list as changed (it judged nothing there)."""
    unseen = []
    for _, integration in compat.integrations(contract):
        path = integration["path"]
        current = repo / path
        if current.is_file() and current.read_text(encoding="utf-8") != baseline[path] and path not in sdk_output:
            unseen.append(f"{path}: demisto-sdk did not compare it with 1.x (it is not in validate's list of changed files)")
    return unseen


def run_bc_check(packs_root: Path = compat.REPO_ROOT, contract: dict | None = None, keep: bool = False) -> BcReport:
    """Run demisto-sdk's BC and release-notes checks on ``packs_root/Packs`` against the 1.x baseline (module docstring)."""
    contract = contract or compat.load_contract()
    report = BcReport(failures=missing_items(contract, packs_root))
    workdir = Path(tempfile.mkdtemp(prefix="threatmon-bc-"))
    report.workdir = workdir
    try:
        repo = workdir / "content"
        repo.mkdir()
        baseline = build_repository(repo, contract, packs_root)
        report_file = workdir / "validate-report.json"
        done = run_sdk(repo, report_file)
        report.sdk_output = done.stdout + done.stderr
        if not report_file.is_file():
            tail = "\n".join(report.sdk_output.strip().splitlines()[-15:])
            report.failures.append(f"demisto-sdk validate ended with code {done.returncode} and no report:\n{tail}")
            return report
        report.findings, crashed = read_findings(report_file)
        report.failures += [f"a demisto-sdk validation crashed: {item}" for item in crashed]
        if done.returncode != 0 and not report.findings and not crashed:
            tail = "\n".join(report.sdk_output.strip().splitlines()[-15:])
            report.failures.append(f"demisto-sdk validate ended with code {done.returncode} without naming an error:\n{tail}")
        failures, report.waived, report.approvals = judge(report.findings, contract, packs_root, frozenset(baseline))
        report.failures += failures + unseen_items(baseline, contract, repo, report.sdk_output)
        return report
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs-root", type=Path, default=compat.REPO_ROOT, help="folder holding Packs/ (default: this repo)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway repository and print where it is")
    options = parser.parse_args(argv)
    contract = compat.load_contract()
    versions = ", ".join(f"{Path(pack['folder']).name} {pack['version']}" for pack in contract["packs"])
    report = run_bc_check(options.packs_root.resolve(), contract, keep=options.keep)
    for line in report.waived:
        print(f"waived  {line}")
    if report.approvals:
        items = ", ".join(sorted(Path(line.split()[1]).stem for line in report.approvals))
        print(f"review  BC117 on {len(report.approvals)} new item(s) that ship to Cortex XSIAM and so to the platform's")
        print(f"        modules, which content's reviewers approve in the pull request: {items}")
    for line in report.failures:
        print(f"FAIL    {line}")
    if options.keep:
        print(f"throwaway repository kept at {report.workdir / 'content'}")
    verdict = "PASS" if report.ok else f"FAIL ({len(report.failures)} problem(s))"
    print(f"demisto-sdk BC and release-notes checks against the 1.x packs ({versions}): {verdict}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
