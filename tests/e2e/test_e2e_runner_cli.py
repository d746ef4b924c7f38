"""`python -m runner` as a new user meets it: started outside the venv, keys as plain strings, lastRun, objects,
and the sample params files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner import IntegrationRunner
from runner.display import render_result

REPO_ROOT = Path(__file__).resolve().parents[2]
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
FAKE = Path(__file__).resolve().parent / "test_data" / "fake_integration.py"


@pytest.mark.parametrize("module", ["runner", "runner.demo"])
def test_outside_the_venv_one_sentence_says_how_to_start_it(module):
    # -S: no site-packages, so requests and the rest are missing, as under a system Python without them
    done = subprocess.run(
        [sys.executable, "-S", "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    version = ".".join(map(str, sys.version_info[:3]))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"runner: this Python ({sys.executable}, {version}) cannot run it: requests, urllib3, dateparser, "
        "pytz are not installed; start it from the project's .venv: run `make demo`, or `make install-runtime` and then "
        "`.venv/bin/python -m runner ...`."
    ]


# -- a key given as a plain string -------------------------------------------------------------------------------------


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_the_alarm_api_key_may_be_a_plain_string(make_sim):
    sim = make_sim(alarms=3)
    done = run_cli(
        "--integration", str(THREATMON), "--command", "test-module",
        "--param", f"url={sim.api_url}", "--param", f"credentials={sim.api_key}",
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "ok", "")
    assert sim.requests[-1]["path"].startswith("/api/threatmon/external/v1/")


def test_the_feed_token_may_be_a_plain_string(make_sim):
    sim = make_sim(alarms=0)
    feed = IntegrationRunner(FEED, {"url": sim.url, "credentials": sim.ioc_token})
    assert feed.params["credentials"] == {"identifier": "", "password": sim.ioc_token}
    result = feed.run("test-module")
    assert result.ok and result.readable == "ok"


def test_credentials_parameters_are_read_from_the_yml(tmp_path):
    integration = tmp_path / "Custom.py"
    integration.write_text("")
    integration.with_suffix(".yml").write_text(
        "commonfields:\n  id: Custom\nconfiguration:\n"
        "- display: Server URL\n  name: url\n  type: 0\n"
        "- displaypassword: Token\n  name: api_token\n  type: 9\n  options:\n  - a: b\n"
        "- name: credentials\n  display: a text field named like the usual credentials\n  type: 0\n"
        "script:\n  type: python\n"
    )
    runner = IntegrationRunner(integration, {"url": "https://x.example", "api_token": "tok-1", "credentials": "plain"})
    assert runner.params == {
        "url": "https://x.example",
        "api_token": {"identifier": "", "password": "tok-1"},
        "credentials": "plain",
    }


def test_a_key_in_the_server_form_is_left_as_it_is():
    given = {"credentials": {"identifier": "u", "password": "p", "passwordChanged": False}}
    assert IntegrationRunner(FAKE, given).params == given


# -- lastRun -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "line"),
    [
        ({}, 'lastRun saved: {"n": 2}'),
        (
            {"keep_last_run": True},
            "lastRun not saved (the run did not set one); the next run gets the previous one: {}",
        ),
        (
            {"fail_after_sending": True},
            "lastRun not saved (the run failed, and XSOAR commits nothing of a failed fetch); "
            "the next run gets the previous one: {}",
        ),
    ],
)
def test_a_fetch_shows_the_last_run_it_saved_or_says_it_saved_none(params, line):
    result = IntegrationRunner(FAKE, {"batch": "2", **params}).run("fetch-incidents")
    lines = render_result(result).splitlines()
    assert [text for text in lines if text.startswith("lastRun")] == [line]


def test_the_next_run_shows_the_last_run_kept_from_before(tmp_path):
    path = tmp_path / "lastrun.json"
    IntegrationRunner(FAKE, {"batch": "2"}, last_run_file=path).run("fetch-incidents")
    kept = IntegrationRunner(FAKE, {"batch": "2", "keep_last_run": True}, last_run_file=path).run("fetch-incidents")
    assert render_result(kept).splitlines()[-1] == (
        'lastRun not saved (the run did not set one); the next run gets the previous one: {"n": 2}'
    )


def test_a_command_other_than_a_fetch_shows_no_last_run():
    result = IntegrationRunner(FAKE, {}, incident=None).run("echo", {"text": "x"})
    assert "lastRun" not in render_result(result)


def test_json_output_has_the_last_run_only_when_the_run_saved_it():
    params = json.dumps({"batch": "1", "keep_last_run": True})
    done = run_cli("--integration", str(FAKE), "--params", params, "--command", "fetch-incidents", "--json")
    raw = json.loads(done.stdout)
    assert (raw["last_run"], raw["last_run_saved"]) == (None, False)
    params = json.dumps({"batch": "1"})
    done = run_cli("--integration", str(FAKE), "--params", params, "--command", "fetch-incidents", "--json")
    raw = json.loads(done.stdout)
    assert (raw["last_run"], raw["last_run_saved"]) == ({"n": 1}, True)


def test_a_feed_run_with_nothing_new_says_0_indicators(make_sim):
    sim = make_sim(alarms=0)
    feed = IntegrationRunner(FEED, {"url": sim.url, "credentials": sim.ioc_token})
    first = render_result(feed.run("fetch-indicators")).splitlines()
    again = feed.run("fetch-indicators")
    assert again.ok and again.indicators == []
    assert first[0] != "0 indicator(s)" and first[0].endswith(" indicator(s)")
    assert render_result(again).splitlines()[0] == "0 indicator(s)"


def test_a_feed_run_kept_without_its_indicators_counts_what_it_created(make_sim):
    sim = make_sim(alarms=0)
    feed = IntegrationRunner(FEED, {"url": sim.url, "credentials": sim.ioc_token}, keep_indicators=False)
    result = feed.run("fetch-indicators")
    assert render_result(result).splitlines()[0] == f"{sum(result.indicator_batches)} indicator(s)"
    assert sum(result.indicator_batches) > 0


# -- a command that returns an object -------------------------------------------------------------------------------------


def test_an_object_is_shown_as_readable_lines():
    result = IntegrationRunner(FAKE, {}).run("object")
    assert result.entries == [
        {
            "Type": 1,
            "ContentsFormat": "json",
            "Contents": {"Fake Type": {"status": "the status", "tags": ["a", "b"]}, "empty": {}},
        }
    ]
    assert render_result(result).splitlines() == [
        "Fake Type:",
        "  status: the status",
        "  tags:",
        "    - a",
        "    - b",
        "empty: (empty)",
    ]


def test_get_mapping_fields_prints_the_fields_it_offers(make_sim):
    sim = make_sim(alarms=0)
    params = json.dumps({"url": sim.api_url, "credentials": sim.api_key})
    done = run_cli("--integration", str(THREATMON), "--params", params, "--command", "get-mapping-fields")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ThreatMon Alarm:"
    assert lines[1].startswith("  status: ThreatMon status of the alarm")
    assert "null" not in done.stdout


# -- the sample params files ----------------------------------------------------------------------------------------------

EXAMPLES = {
    "threatmon.example.json": THREATMON,
    "threatmon-feed.example.json": FEED,
}


def yml_params(integration: Path) -> list[dict]:
    return yaml.safe_load(integration.with_suffix(".yml").read_text(encoding="utf-8"))["configuration"]


def test_every_integration_has_a_sample_params_file():
    documented = (REPO_ROOT / "runner" / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in (REPO_ROOT / "runner" / "params").glob("*.json")) == sorted(EXAMPLES)
    assert sorted(str(p) for p in EXAMPLES.values()) == sorted(
        str(p) for p in (REPO_ROOT / "Packs").glob("*/Integrations/*/*.py") if not p.name.endswith("_test.py")
    )
    for name in EXAMPLES:
        assert f"runner/params/{name}" in documented


@pytest.mark.parametrize(("name", "integration"), EXAMPLES.items())
def test_a_sample_params_file_names_real_parameters_and_holds_no_secret(name, integration):
    sample = json.loads((REPO_ROOT / "runner" / "params" / name).read_text(encoding="utf-8"))
    configuration = yml_params(integration)
    assert set(sample) <= {p["name"] for p in configuration}
    assert {p["name"] for p in configuration if p.get("required")} <= set(sample)
    assert sample["credentials"].startswith("REPLACE-WITH-YOUR-")
    defaults = {p["name"]: p.get("defaultvalue") for p in configuration}
    assert sample["url"].startswith(str(defaults["url"]).split("/api/")[0])


def test_the_sample_params_files_run_against_the_simulator(make_sim):
    sim = make_sim(alarms=3)
    threatmon = REPO_ROOT / "runner" / "params" / "threatmon.example.json"
    feed = REPO_ROOT / "runner" / "params" / "threatmon-feed.example.json"
    env = {"PATH": "/usr/bin:/bin", "TM_KEY": sim.api_key, "TM_TOKEN": sim.ioc_token}
    for integration, sample, url, variable in ((THREATMON, threatmon, sim.api_url, "TM_KEY"), (FEED, feed, sim.url, "TM_TOKEN")):
        done = run_cli(
            "--integration", str(integration), "--params", str(sample), "--param", f"url={url}",
            "--api-key-env", variable, "--command", "test-module", env=env,
        )  # fmt: skip
        assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stdout + done.stderr


# -- usage errors: exit status 2 and one line naming the file or variable ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--params", "no-such-params.json"], "--params: there is no file no-such-params.json"),
        (["--params", "{not json"], "--params: the inline JSON is not valid JSON"),
        (["--args", "{'limit': 5}"], "--args: the inline JSON is not valid JSON"),
        (["--args", "[1, 2]"], "--args: the inline JSON holds list, not a JSON object."),
        (["--api-key-env", "RUNNER_TEST_UNSET_VARIABLE"], "--api-key-env: the environment variable RUNNER_TEST_UNSET_VARIABLE"),
        (["--param", "credentials"], "--param 'credentials': expected NAME=VALUE."),
    ],
)
def test_a_usage_error_exits_2_naming_the_option_and_the_file_or_variable(options, message):
    env = {"PATH": "/usr/bin:/bin"}
    done = run_cli("--integration", str(THREATMON), "--command", "test-module", *options, env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"runner: {message}") and len(done.stderr.splitlines()) == 1, done.stderr


def test_a_params_file_that_is_not_json_is_named(tmp_path):
    params = tmp_path / "params.json"
    params.write_text("url: https://external.threatmonit.io\n", encoding="utf-8")
    done = run_cli("--integration", str(THREATMON), "--command", "test-module", "--params", str(params))
    assert done.returncode == 2
    assert done.stderr.startswith(f"runner: --params: the file {params} is not valid JSON (")


@pytest.mark.parametrize(("name", "integration"), EXAMPLES.items())
def test_the_placeholder_key_of_a_sample_params_file_is_refused_before_any_request(make_sim, name, integration):
    sim = make_sim(alarms=1)
    sample = f"runner/params/{name}"
    done = run_cli("--integration", str(integration), "--params", sample, "--param", f"url={sim.url}", "--command", "test-module")
    assert (done.returncode, done.stdout, sim.requests) == (2, "", [])
    assert done.stderr == (
        f"runner: the parameter credentials (from {sample}) still holds the sample's placeholder key; nothing was sent: "
        "give the key with --api-key-env VAR or --param credentials=KEY, or put it in your copy of the params file.\n"
    )
