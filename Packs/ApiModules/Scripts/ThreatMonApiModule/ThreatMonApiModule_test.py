"""Unit tests of ThreatMonApiModule: the shared transport (retry loop, classifiers, deadline), the scrubber and the
value parsers. HTTP is stubbed with requests_mock; nothing sleeps (the client gets a fake clock and a fake sleep).

The client under test is a small subclass, as each integration's Client is: its own hints and where its secret goes.
The integrations' own tests check their endpoints and the words their hints put in these sentences.
"""

import contextlib
import email.utils
import io
import socket
import threading
import time
import urllib.parse
from datetime import UTC, datetime

import pytest
import requests
import requests_mock
import ThreatMonApiModule as api
import urllib3
from CommonServerPython import DemistoException

BASE = "https://threatmon.test/api/v1"
URL = f"{BASE}/items/0"
SECRET = "tm-Secret+Key/42="  # URL-encoding changes it
HINTS = api.ApiHints(
    credential="example key",
    credential_check="the example key",
    server_url="https://threatmon.test",
    rejected_check="the example arguments",
    slow_down="ask less often",
    slow_answer="ask for fewer items",
    not_found_checks={"/items/0": "that the item exists"},
)


class FakeClock:
    """A monotonic clock, a wall clock and a sleep for a client under test: sleeping only moves the clock."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_741_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Time that passes without the client sleeping (a slow answer)."""
        self.now += seconds


class HeaderClient(api.ThreatMonClient):
    HINTS = HINTS
    CREDENTIAL_HEADER = "X-Example-Key"

    def items(self, method="GET", expect=api.any_json, **kwargs):
        return self._request(method, "/items/0", expect=expect, **kwargs)


class ParamClient(HeaderClient):
    CREDENTIAL_HEADER = None
    CREDENTIAL_PARAM = "api_token"


def make_client(clock=None, cls=HeaderClient, **kwargs):
    clock = clock or FakeClock()
    return cls(BASE, SECRET, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall, **kwargs)


def failure_of(answers, clock=None, request=None, **kwargs) -> api.ThreatMonError:
    """The error the client raises when requests_mock gives these answers (a dict, or a list of dicts) to
    ``client.items(**request)``."""
    answers = answers if isinstance(answers, list) else [answers]
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(requests_mock.ANY, URL, answers)
        with pytest.raises(api.ThreatMonError) as info:
            make_client(clock, **kwargs).items(**(request or {}))
    return info.value


def never_connected(text="[Errno 111] Connection refused") -> requests.exceptions.ConnectionError:
    """A ConnectionError as requests raises it when no connection could be made (refused, DNS)."""
    reason = urllib3.exceptions.NewConnectionError(None, f"Failed to establish a new connection: {text}")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, f"{URL}?api_token={SECRET}", reason))


# ---------------------------------------------------------------- the error class


def test_error_kinds_are_one_vocabulary():
    error = api.ThreatMonError("ThreatMon refused it.", kind="auth", status_code=401)
    assert (str(error), error.kind, error.status_code, error.retryable, error.retry_after) == (
        "ThreatMon refused it.",
        "auth",
        401,
        False,
        None,
    )
    with pytest.raises(ValueError, match="'server' is not a ThreatMonError kind"):
        api.ThreatMonError("x", kind="server")


# ---------------------------------------------------------------- requests as sent


def test_the_secret_header_and_accept_json_go_with_every_request():
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json={"ok": True})
        assert make_client().items(params={"page": 1}) == {"ok": True}
        request = mocker.last_request
    assert request.headers["X-Example-Key"] == SECRET
    assert request.headers["accept"] == "application/json"
    assert request.qs == {"page": ["1"]}


def test_the_secret_param_goes_with_every_request_and_not_in_a_header():
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json=[])
        make_client(cls=ParamClient).items(params={"size": 5})
        request = mocker.last_request
    assert request.qs == {"api_token": [SECRET.lower()], "size": ["5"]}  # requests_mock lower-cases query values
    assert SECRET not in request.headers.values()


@pytest.mark.parametrize(
    ("verify", "env", "expected"),
    [
        (True, {"REQUESTS_CA_BUNDLE": "/certs/custom.pem"}, "/certs/custom.pem"),
        (True, {"CURL_CA_BUNDLE": "/certs/curl.pem"}, "/certs/curl.pem"),
        (True, {}, True),
        (False, {"REQUESTS_CA_BUNDLE": "/certs/custom.pem"}, False),
    ],
)
def test_without_a_proxy_the_ca_bundle_is_read_once(monkeypatch, verify, env, expected):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = HeaderClient(BASE, SECRET, verify=verify)
    assert client._session.trust_env is False
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json={})
        client.items()
        assert mocker.last_request.verify == expected


def test_with_the_system_proxy_the_environment_is_read_on_every_request(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert HeaderClient(BASE, SECRET, proxy=True)._session.trust_env is True


# ---------------------------------------------------------------- answers


def test_without_expect_the_response_comes_back():
    with requests_mock.Mocker() as mocker:
        mocker.patch(URL, status_code=204)
        response = make_client().items(method="PATCH", expect=None)
    assert response.status_code == 204


def test_a_passthrough_status_comes_back_as_the_response_without_retry():
    with requests_mock.Mocker() as mocker:
        mocker.post(URL, status_code=409, json={"message": "exists"})
        response = make_client().items(method="POST", passthrough=(409,), post_safe_retry=True)
        assert mocker.call_count == 1
    assert response.status_code == 409


def test_expect_refuses_json_of_the_wrong_shape():
    error = failure_of({"json": {"unexpected": 1}}, request={"expect": lambda body: isinstance(body, list)})
    assert error.kind == "bad_body"
    assert "(it starts with '{\"unexpected\": 1}')" in str(error)


@pytest.mark.parametrize(
    ("method", "body", "attempts", "words"),
    [
        ("GET", "<html><body>Login</body></html>", 4, "(it starts with '<html><body>Login</body></html>')"),
        ("GET", '{"items": [{"val', 4, """(it starts with '{"items": [{"val')"""),
        ("GET", "", 4, "(an empty body)"),
        ("POST", "<html>x</html>", 1, "a truncated answer, or an error page from a proxy or another host"),
    ],
)
def test_a_2xx_that_is_not_json_is_retried_on_get_only_then_explained(method, body, attempts, words):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(method, URL, text=body)
        with pytest.raises(api.ThreatMonError) as info:
            make_client(clock).items(method=method)
        assert mocker.call_count == attempts
    assert info.value.kind == "bad_body"
    assert words in str(info.value)
    assert "check the Server URL (use https://threatmon.test)" in str(info.value)


def test_a_truncated_answer_then_a_good_one_succeeds():
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"text": '{"items": [1'}, {"json": {"items": [1]}}])
        assert make_client().items() == {"items": [1]}


# ---------------------------------------------------------------- the status classifier


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, "auth", "ThreatMon refused the example key (HTTP 401; ThreatMon said: denied): check the example key."),
        (403, "auth", "ThreatMon refused the example key (HTTP 403; ThreatMon said: denied)"),
        (404, "not_found", f"HTTP 404 for GET {URL} (ThreatMon said: denied): check that the item exists and the Server"),
        (400, "rejected", "ThreatMon rejected GET /items/0 (HTTP 400; ThreatMon said: denied): check the example arguments."),
        (418, "rejected", "(HTTP 418; ThreatMon said: denied)"),
    ],
)
def test_client_errors_are_classified_once_with_the_api_words(status, kind, words):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, status_code=status, json={"message": "denied"})
        with pytest.raises(api.ThreatMonError) as info:
            make_client(clock).items()
        assert mocker.call_count == 1
    assert (info.value.kind, info.value.status_code, info.value.retryable) == (kind, status, False)
    assert words in str(info.value)
    assert clock.sleeps == []


def test_a_404_elsewhere_names_only_the_server_url():
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/other", status_code=404)
        with pytest.raises(api.ThreatMonError) as info:
            make_client()._request("GET", "/other")
    assert str(info.value) == (
        f"ThreatMon answered HTTP 404 for GET {BASE}/other: check the Server URL (use https://threatmon.test)."
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried_with_backoff_then_reported(status):
    clock = FakeClock()
    error = failure_of({"status_code": status, "text": "<html>upstream down</html>"}, clock)
    assert error.kind == "unavailable"
    assert str(error) == (
        f"ThreatMon is unavailable or failing (HTTP {status} for GET /items/0): try again later; if it persists, "
        "contact ThreatMon support. Gave up after 4 attempts."
    )
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_a_server_error_then_success_returns_the_body():
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"status_code": 503}, {"json": {"items": []}}])
        assert make_client(clock).items() == {"items": []}
    assert clock.sleeps == [0.5]


def test_rate_limiting_names_what_to_lower():
    error = failure_of({"status_code": 429})
    assert error.kind == "rate_limited"
    assert "rate limiting the requests (HTTP 429): wait a few minutes, and ask less often if it persists." in str(error)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"json": {"error": "  no\nsuch   page "}}, "; ThreatMon said: no such page)"),
        ({"json": {"detail": "x" * 300}}, f"; ThreatMon said: {'x' * 200})"),
        ({"json": {"message": ""}}, "(HTTP 500 for GET /items/0): try"),
        ({"json": ["not", "an", "object"]}, "(HTTP 500 for GET /items/0): try"),
        ({"text": "plain words from a gateway"}, "; ThreatMon said: plain words from a gateway)"),
        ({"text": "<html><body>Bad Gateway</body></html>"}, "(HTTP 500 for GET /items/0): try"),
        ({"json": {"message": f"key {SECRET} refused"}}, "; ThreatMon said: key <redacted> refused)"),
    ],
)
def test_the_servers_own_explanation_is_quoted_short_and_scrubbed(body, said):
    error = failure_of({"status_code": 500, **body})
    assert said in str(error)
    assert SECRET not in str(error)


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "120"}, 10.0),
        ({"Retry-After": "0"}, 0.0),
        ({}, 0.5),
        ({"Retry-After": "soon"}, 0.5),
        ({"Retry-After": "Wed, 01 May 2024 10:00:04 GMT", "Date": "Wed, 01 May 2024 10:00:00 GMT"}, 4.0),
        ({"Retry-After": "Wed, 01 May 2024 09:00:00 GMT", "Date": "Wed, 01 May 2024 10:00:00 GMT"}, 0.0),
    ],
)
def test_retry_after_is_honoured_up_to_the_cap(headers, expected):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"status_code": 429, "headers": headers, "text": ""}, {"json": {}}])
        make_client(clock).items()
    assert clock.sleeps == [expected]


def test_a_retry_after_date_without_a_date_header_is_compared_with_the_wall_clock():
    clock = FakeClock()
    when = email.utils.formatdate(clock.wall() + 4, usegmt=True)
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"status_code": 503, "headers": {"Retry-After": when}}, {"json": {}}])
        make_client(clock).items()
    assert clock.sleeps == [pytest.approx(4.0, abs=1.0)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("later", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:28:10", 10.0),
    ],
)
def test_parse_retry_after(value, expected):
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert api.parse_retry_after(value, now) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [(1, None, 2.0), (2, None, 4.0), (4, None, 16.0), (5, None, 30.0), (1, 45.0, 45.0), (1, 600.0, 60.0), (1, -1.0, 0.0)],
)
def test_retry_policy_delay(attempt, retry_after, expected):
    policy = api.RetryPolicy(backoff_base=2.0, backoff_cap=30.0, retry_after_cap=60.0)
    assert policy.delay(attempt, retry_after) == expected


# ---------------------------------------------------------------- attempts and the deadline


def test_max_attempts_bounds_the_tries():
    clock = FakeClock()
    error = failure_of({"status_code": 500}, clock, max_attempts=2)
    assert str(error).endswith("Gave up after 2 attempts.")
    assert clock.sleeps == [0.5]


def test_one_attempt_says_nothing_about_giving_up():
    error = failure_of({"status_code": 500}, max_attempts=1)
    assert "Gave up" not in str(error)


def test_no_retry_starts_when_the_deadline_is_near():
    clock = FakeClock()
    error = failure_of({"status_code": 429, "headers": {"Retry-After": "9.5"}}, clock, deadline_seconds=10)
    assert str(error).endswith("if it persists. No time was left in this run to try again.")
    assert clock.sleeps == []


def test_retries_stop_at_the_deadline():
    clock = FakeClock()
    policy = api.RetryPolicy(max_attempts=10, backoff_base=2.0, backoff_cap=30.0)
    client = type("SlowClient", (HeaderClient,), {"POLICY": policy})
    error = failure_of({"status_code": 503}, clock, cls=client, deadline_seconds=20)
    assert clock.sleeps == [2.0, 4.0, 8.0]  # the next wait (16 s) would end after the deadline
    assert "No time was left in this run to try again." in str(error)


def test_no_request_starts_after_the_deadline():
    clock = FakeClock()
    client = make_client(clock, deadline_seconds=5)
    clock.now += 5
    with requests_mock.Mocker() as mocker, pytest.raises(api.ThreatMonError) as info:
        client.items()
    assert mocker.call_count == 0
    assert info.value.kind == "deadline"
    assert "The time budget of this run was used up before GET /items/0 could be sent" in str(info.value)


def test_the_request_timeout_is_cut_to_the_time_left():
    clock = FakeClock()
    client = make_client(clock, deadline_seconds=12)
    clock.now += 9
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json={})
        client.items()
        assert mocker.request_history[0].timeout == (3.0, 3.0)


def test_without_a_deadline_the_policy_timeouts_apply():
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json={})
        make_client().items()
        assert mocker.request_history[0].timeout == (5.0, 20.0)


def test_each_retry_is_logged_without_the_secret():
    lines: list[str] = []
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"status_code": 502}, {"json": {}}])
        make_client(cls=ParamClient, log=lines.append).items()
    assert lines == ["ThreatMon GET /items/0: unavailable on attempt 1; retrying in 0.5s"]


# ---------------------------------------------------------------- the transport classifier

URL_WITH_SECRET = f"{URL}?api_token={SECRET}"


@pytest.mark.parametrize(
    ("exc", "kind", "words", "attempts"),
    [
        (
            requests.exceptions.ConnectionError(f"Max retries exceeded with url: {URL_WITH_SECRET} (NameResolutionError)"),
            "unreachable",
            f"Could not reach ThreatMon at {BASE}: the host name does not resolve (DNS) (ConnectionError); check the Server",
            4,
        ),
        (never_connected(), "unreachable", "the connection was refused (ConnectionError)", 4),
        (requests.exceptions.ConnectionError(f"{URL_WITH_SECRET}: reset by peer"), "unreachable", "the connection failed", 4),
        (requests.exceptions.ConnectTimeout(URL_WITH_SECRET), "unreachable", "no connection within 5 seconds", 4),
        (
            requests.exceptions.ReadTimeout(URL_WITH_SECRET),
            "timeout",
            "did not answer GET /items/0 within 20 seconds (ReadTimeout): try again later, or ask for fewer items;",
            4,
        ),
        (requests.exceptions.ChunkedEncodingError(URL_WITH_SECRET), "broken", "broke while the answer to GET /items/0", 4),
        (requests.exceptions.ContentDecodingError(URL_WITH_SECRET), "broken", "(ContentDecodingError)", 4),
        (requests.exceptions.SSLError(URL_WITH_SECRET), "ssl", f"The TLS certificate of {BASE} could not be verified", 1),
        (requests.exceptions.ProxyError(URL_WITH_SECRET), "proxy", "untick 'Use system proxy settings'", 1),
        (requests.exceptions.InvalidURL(URL_WITH_SECRET), "url", "not a usable URL (InvalidURL): use https://threatmon.test", 1),
        (requests.exceptions.MissingSchema(URL_WITH_SECRET), "url", "(MissingSchema)", 1),
        (requests.exceptions.InvalidSchema(URL_WITH_SECRET), "url", "(InvalidSchema)", 1),
        (requests.exceptions.TooManyRedirects(URL_WITH_SECRET), "error", "The request GET /items/0 to ThreatMon failed", 1),
    ],
)
def test_transport_failures_become_sentences_without_the_url(exc, kind, words, attempts):
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, exc=exc)
        with pytest.raises(api.ThreatMonError) as info:
            make_client(cls=ParamClient).items()
        assert mocker.call_count == attempts
    message = str(info.value)
    assert info.value.kind == kind
    assert words in message
    assert SECRET not in message and urllib.parse.quote(SECRET, safe="") not in message
    assert "api_token" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_an_unverified_ssl_failure_is_classified_too():
    """The official BaseClient re-raises SSLError unwrapped when certificates are not checked."""
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, exc=requests.exceptions.SSLError("bad cert"))
        with pytest.raises(api.ThreatMonError) as info:
            make_client(verify=False).items()
    assert info.value.kind == "ssl"


def test_a_status_refused_by_base_client_itself_is_classified_too(monkeypatch):
    response = requests.Response()
    response.status_code, response._content = 401, b"{}"

    def refuse(*args, **kwargs):
        raise DemistoException("Error in API call [401]", res=response)

    client = make_client()
    monkeypatch.setattr(client, "_http_request", refuse)
    with pytest.raises(api.ThreatMonError) as info:
        client.items()
    assert info.value.kind == "auth"


def test_other_errors_are_not_hidden_behind_a_sentence(monkeypatch):
    def broken(*args, **kwargs):
        raise DemistoException("something else")

    client = make_client()
    monkeypatch.setattr(client, "_http_request", broken)
    with pytest.raises(DemistoException, match=r"^something else$"):
        client.items()


# ---------------------------------------------------------------- a request that changes something


@pytest.mark.parametrize(
    ("answers", "calls"),
    [
        ([{"status_code": 500}], 1),
        ([{"status_code": 502}], 1),
        ([{"exc": requests.exceptions.ReadTimeout}], 1),
        ([{"exc": requests.exceptions.ConnectionError("reset by peer")}], 1),
        ([{"exc": requests.exceptions.ChunkedEncodingError}], 1),
        ([{"status_code": 503}, {"status_code": 200}], 2),
        ([{"status_code": 429}, {"status_code": 200}], 2),
        ([{"exc": requests.exceptions.ConnectTimeout}, {"status_code": 200}], 2),
        ([{"exc": never_connected()}, {"status_code": 200}], 2),
        ([{"exc": never_connected("[Errno -2] Name or service not known")}, {"status_code": 200}], 2),
    ],
)
def test_a_post_is_retried_only_when_the_server_surely_did_not_act(answers, calls):
    with requests_mock.Mocker() as mocker:
        mocker.post(URL, answers)
        with contextlib.suppress(api.ThreatMonError):
            make_client().items(method="POST", expect=None, post_safe_retry=True)
        assert mocker.call_count == calls


def test_a_refused_connection_on_localhost_is_retried_even_for_a_post():
    clock = FakeClock()  # port 9 (discard): below the ephemeral range, so no other test's socket is there
    client = HeaderClient("http://127.0.0.1:9", SECRET, sleep=clock.sleep, clock=clock.clock, max_attempts=2)
    with pytest.raises(api.ThreatMonError) as info:
        client._request("POST", "/takedown", expect=None, post_safe_retry=True)
    assert info.value.kind == "unreachable"
    assert "the connection was refused" in str(info.value)
    assert str(info.value).endswith("Gave up after 2 attempts.")


# ---------------------------------------------------------------- scrub


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (f"a {SECRET} b", SECRET, "a <redacted> b"),
        (f"?key={urllib.parse.quote(SECRET, safe='')}&size=1", SECRET, "?key=<redacted>&size=1"),
        (f"path/{urllib.parse.quote(SECRET)}/x", SECRET, "path/<redacted>/x"),
        (f"form {urllib.parse.quote_plus(SECRET)}", SECRET, "form <redacted>"),
        ("?api_token=other-token&size=1", SECRET, "?api_token=<redacted>&size=1"),
        ("?API_KEY=abc123 and token=xyz", None, "?API_KEY=<redacted> and token=<redacted>"),
        ("nothing secret", SECRET, "nothing secret"),
        ("abc", "", "abc"),
        ("abc", "ab", "abc"),  # too short to search for
    ],
)
def test_scrub_masks_the_secret_in_every_form(text, secret, expected):
    assert api.scrub(text, secret) == expected


def test_the_client_scrubs_with_its_own_secret():
    assert make_client().scrub(f"x {SECRET}") == "x <redacted>"


# ---------------------------------------------------------------- parse_int


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("5", {}, 5),
        (" +7 ", {}, 7),
        ("-3", {}, -3),
        (12, {"minimum": 1}, 12),
        (4.0, {}, 4),
        (None, {"default": 10}, 10),
        ("  ", {"default": 10}, 10),
        ("", {}, None),
        ("100", {"minimum": 1, "maximum": 100}, 100),
    ],
)
def test_parse_int_accepts_whole_numbers(value, kwargs, expected):
    assert api.parse_int(value, "limit", **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("two", {}, "The limit argument must be a whole number; got 'two'."),
        ("1.5", {}, "The limit argument must be a whole number; got '1.5'."),
        (1.5, {}, "The limit argument must be a whole number; got '1.5'."),
        (True, {}, "The limit argument must be a whole number; got 'True'."),
        ("\uff11\uff12", {}, "got '\uff11\uff12'"),  # fullwidth digits are not ASCII digits
        ("0", {"minimum": 1}, "The limit argument must be a whole number of at least 1; got '0'."),
        ("101", {"minimum": 1, "maximum": 100}, "The limit argument must be a whole number from 1 to 100; got '101'."),
        ("9", {"maximum": 5}, "The limit argument must be a whole number of at most 5; got '9'."),
        ("-1", {"what": "parameter", "minimum": 0}, "The limit parameter must be a whole number of at least 0; got '-1'."),
    ],
)
def test_parse_int_refuses_anything_else_naming_the_setting(value, kwargs, message):
    with pytest.raises(ValueError) as info:
        api.parse_int(value, "limit", **kwargs)
    assert message in str(info.value)


def test_parse_int_names_an_instance_parameter_by_its_form_label_then_its_name():
    with pytest.raises(ValueError) as info:
        api.parse_int("abc", "max_fetch", "parameter", 1, 1000, label="Maximum number of incidents per fetch")
    assert (
        str(info.value) == "Maximum number of incidents per fetch (max_fetch) must be a whole number from 1 to 1000; got 'abc'."
    )


def test_param_title_is_the_label_then_the_name_in_brackets():
    assert api.param_title("url", {"url": "Server URL"}) == "Server URL (url)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (None, False), ("", False), ("true", True), ("False", False), ("yes", True), ("no", False)],
)
def test_parse_flag_reads_true_and_false(value, expected):
    assert api.parse_flag(value, "proxy") is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "The proxy argument must be true or false; got 'maybe'."),
        ({"what": "parameter"}, "The proxy parameter must be true or false; got 'maybe'."),
        ({"label": "Use system proxy settings"}, "Use system proxy settings (proxy) must be true or false; got 'maybe'."),
    ],
)
def test_parse_flag_refuses_anything_else_naming_the_setting(kwargs, message):
    with pytest.raises(ValueError) as info:
        api.parse_flag("maybe", "proxy", **kwargs)
    assert str(info.value) == message


# ---------------------------------------------------------------- parse_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-14T09:26:53+03:00", datetime(2025, 3, 14, 6, 26, 53, tzinfo=UTC)),
        ("2025-03-14T09:26:53Z", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2025-03-14T09:26:53.250000Z", datetime(2025, 3, 14, 9, 26, 53, 250000, tzinfo=UTC)),
        ("2025-03-14T09:26:53", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2025-03-14 09:26:53", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2025-03-14", datetime(2025, 3, 14, tzinfo=UTC)),
        ("2025-03-14 09:26:53 UTC", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2025-03-14T09:26:53 GMT", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2025/03/14 09:26:53", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("14.03.2025 09:26:53", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("14/03/2025 09:26:53", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("March 14, 2025 09:26", datetime(2025, 3, 14, 9, 26, tzinfo=UTC)),
        ("Mar 14, 2025 09:26", datetime(2025, 3, 14, 9, 26, tzinfo=UTC)),
        ("Fri, 14 Mar 2025 09:26:53 GMT", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        (1741944413, datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        (1741944413000, datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        (1741944413.5, datetime(2025, 3, 14, 9, 26, 53, 500000, tzinfo=UTC)),
        ("1741944413", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("1741944413000", datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)),
        ("2999-01-01T00:00:00Z", datetime(2999, 1, 1, tzinfo=UTC)),  # far, but a time: a caller may refuse it
    ],
)
def test_parse_time_reads_every_format_as_utc(value, expected):
    assert api.parse_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        " UTC",
        True,
        [],
        ["2024-05-01"],
        "yesterday",
        "yesterday-ish nonsense",
        "01/05/2024",  # which of May 1 and January 5 is not knowable
        "2025-13-45T99:00:00",
        "12345",  # too short to be an epoch in text
        "99999999999999999",
        "0",
        0,
        -5,
        10**20,
        1e30,
    ],
)
def test_parse_time_gives_none_for_what_is_not_a_time(value):
    assert api.parse_time(value) is None


# ---------------------------------------------------------------- the secret stays on ThreatMon's hosts

ELSEWHERE = "https://elsewhere.test"
REDIRECT_STATUSES = [301, 302, 303, 307, 308]


def redirect_failure(status, location, method="GET", cls=HeaderClient):
    """The error for a ``status`` redirect to ``location``, and how many requests reached any other host."""
    with requests_mock.Mocker() as mocker:
        elsewhere = mocker.register_uri(requests_mock.ANY, requests_mock.ANY, json={"stolen": True})
        mocker.register_uri(method, URL, status_code=status, headers={"Location": location} if location else {})  # wins
        with pytest.raises(api.ThreatMonError) as info:
            make_client(cls=cls).items(method=method, json_data={"findingId": 1} if method == "POST" else None)
        sent = [request.url for request in mocker.request_history]
    return info.value, elsewhere.call_count, sent


@pytest.mark.parametrize("cls", [HeaderClient, ParamClient])
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_a_redirect_to_another_host_is_never_followed_nor_retried(status, method, cls):
    error, elsewhere, sent = redirect_failure(status, f"{ELSEWHERE}/api/v1/items/0?api_token={SECRET}", method, cls)
    assert elsewhere == 0
    assert len(sent) == 1 and sent[0].startswith(URL)  # one request, to the Server URL only: no retry, no hop
    assert (error.kind, error.status_code, error.retryable) == ("redirect", status, False)
    assert str(error) == (
        f"ThreatMon answered {method} /items/0 with HTTP {status}, a redirect to {ELSEWHERE}/api/v1/items/0. Redirects "
        "are never followed, so nothing was sent there (not the example key either): the Server URL (url) should "
        f"probably be {ELSEWHERE}/api/v1; check that address with ThreatMon before you change the setting."
    )
    assert SECRET not in str(error) and "api_token" not in str(error)


@pytest.mark.parametrize(
    ("location", "shown", "suggested"),
    [
        ("/moved/items/0", "https://threatmon.test/moved/items/0", "https://threatmon.test/moved"),  # relative
        ("https://new.test/login", "https://new.test/login", "https://new.test"),  # not the endpoint: the host
        ("//other.test/x#frag", "https://other.test/x", "https://other.test"),  # scheme-relative, fragment dropped
        (f"https://u:{SECRET}@new.test/items/0", f"https://u:{api.REDACTED}@new.test/items/0", "https://u:"),
    ],
)
def test_a_redirect_names_where_it_pointed_and_the_server_url_it_suggests(location, shown, suggested):
    error, elsewhere, _ = redirect_failure(302, location)
    assert elsewhere == 0
    assert f"a redirect to {shown}." in str(error)
    assert f"should probably be {suggested}" in str(error)
    assert SECRET not in str(error)


@pytest.mark.parametrize("location", [None, "   ", "mailto:"])
def test_a_redirect_without_a_usable_location_is_an_error_too(location):
    error, elsewhere, _ = redirect_failure(301, location)
    assert (error.kind, elsewhere) == ("redirect", 0)
    assert str(error) == (
        "ThreatMon answered GET /items/0 with HTTP 301, a redirect without a Location; it was not followed and nothing "
        "was sent elsewhere: check the Server URL (url) (use https://threatmon.test)."
    )


def test_a_redirect_is_refused_even_as_a_passthrough_status():
    with requests_mock.Mocker() as mocker:
        mocker.post(URL, status_code=307, headers={"Location": f"{ELSEWHERE}/takedown"})
        with pytest.raises(api.ThreatMonError) as info:
            make_client().items(method="POST", expect=None, passthrough=(307, 400))
    assert info.value.kind == "redirect"


def test_every_request_asks_requests_not_to_follow_redirects_and_to_stream(monkeypatch):
    """Both go through BaseClient._http_request's **kwargs to requests, on the official runtime and the stand-in."""
    seen = []
    real = requests.Session.request

    def spy(session, method, url, **kwargs):
        seen.append((kwargs.get("allow_redirects"), kwargs.get("stream")))
        return real(session, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, json={})
        make_client().items()
    assert seen == [(False, True)]


class EndlessBody(io.RawIOBase):
    """An answer body that never ends; each read may let time pass (a server that drips)."""

    def __init__(self, clock=None, seconds_per_read=0.0, chunk=b"x" * 1024):
        self.clock, self.seconds_per_read, self.chunk, self.reads = clock, seconds_per_read, chunk, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.reads += 1
        if self.clock is not None:
            self.clock.advance(self.seconds_per_read)
        size = min(len(buffer), len(self.chunk))
        buffer[:size] = self.chunk[:size]
        return size


class BoundedClient(HeaderClient):
    MAX_ANSWER_BYTES = 10_000


def bounded_failure(answer, clock=None, cls=BoundedClient, **request):
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(requests_mock.ANY, URL, [answer])
        with pytest.raises(api.ThreatMonError) as info:
            make_client(clock, cls=cls).items(**request)
        calls = mocker.call_count
    return info.value, calls


@pytest.mark.parametrize(
    "answer",
    [
        {"body": io.BytesIO(b"[" + b"1," * 6000 + b"1]")},  # no Content-Length: read up to the bound, then refused
        {"body": io.BytesIO(b"[]"), "headers": {"Content-Length": "20000"}},  # announced too large: nothing read
        {"body": EndlessBody()},  # never ends
        {"body": EndlessBody(), "status_code": 500},  # an error page is bounded too
    ],
)
def test_an_answer_above_the_bound_is_refused_and_not_retried(answer):
    error, calls = bounded_failure(answer)
    assert (error.kind, error.retryable, calls) == ("too_large", False, 1)
    assert str(error) == (
        "ThreatMon's answer to GET /items/0 is larger than 9.76562 KiB, the most this request accepts, so it was not "
        "read further and nothing of it was used: check the Server URL; if it is right, tell ThreatMon support."
    )


def test_an_endless_answer_is_read_only_up_to_the_bound():
    body = EndlessBody()
    bounded_failure({"body": body})
    assert body.reads * len(body.chunk) <= BoundedClient.MAX_ANSWER_BYTES + api.READ_CHUNK + len(body.chunk)


def test_a_request_can_set_its_own_bound():
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"json": list(range(50))}, {"json": list(range(5))}])
        with pytest.raises(api.ThreatMonError, match="larger than 100 bytes"):
            make_client().items(max_bytes=100)
        assert make_client().items(max_bytes=100) == [0, 1, 2, 3, 4]


def test_an_answer_at_the_bound_is_read_whole():
    body = b"[" + b"1," * 4000 + b"1]"
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, body=io.BytesIO(body))
        assert len(make_client(cls=BoundedClient).items()) == 4001


def test_an_answer_already_in_memory_is_held_to_the_bound_too(monkeypatch):
    response = requests.Response()
    response.status_code, response._content = 200, b"x" * 20_000
    client = make_client(cls=BoundedClient)
    monkeypatch.setattr(client, "_http_request", lambda *args, **kwargs: response)
    with pytest.raises(api.ThreatMonError) as info:
        client.items()
    assert info.value.kind == "too_large"


def test_a_dripping_answer_ends_within_the_read_timeout_as_a_whole():
    """Each read is quick enough for the per-read timeout, the whole answer is not: the client stops reading."""
    clock = FakeClock()
    body = EndlessBody(clock, seconds_per_read=0.05)  # 1 KiB each 50 ms: 64 reads (3.2 s) for each chunk read
    error, calls = bounded_failure({"body": body}, clock, HeaderClient, method="POST", expect=None, post_safe_retry=True)
    assert (error.kind, calls) == ("timeout", 1)
    assert str(error).startswith("ThreatMon did not answer POST /items/0 within 20 seconds (ReadTimeout)")
    assert 20 < clock.now - 1000.0 <= 20 + 3.2 + 0.1  # stopped at the first chunk read after the 20 s


def test_a_dripping_answer_is_retried_on_get_until_the_deadline():
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"body": EndlessBody(clock, seconds_per_read=0.05)} for _ in range(4)])
        client = make_client(clock, deadline_seconds=30)
        with pytest.raises(api.ThreatMonError) as info:
            client.items()
    assert info.value.kind == "timeout"
    assert str(info.value).endswith("No time was left in this run to try again.")
    assert clock.now - 1000.0 <= 30 + 3.2


def test_a_read_timeout_in_the_middle_of_the_body_is_a_timeout():
    class StallingBody(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise TimeoutError("timed out")

    with requests_mock.Mocker() as mocker:
        mocker.get(URL, [{"body": StallingBody()} for _ in range(4)])
        with pytest.raises(api.ThreatMonError) as info:
            make_client().items()
        assert mocker.call_count == 4  # a GET that timed out is retried
    assert info.value.kind == "timeout"
    assert str(info.value).startswith("ThreatMon did not answer GET /items/0 within 20 seconds (ReadTimeout)")


class DripServer:
    """A server on 127.0.0.1 that answers one request with headers, then one byte every 20 ms, for at most two
    seconds: each socket read is quick, the answer never ends in time. It stops by itself."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        with contextlib.suppress(OSError), self.listener:
            connection, _ = self.listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[")
                for _ in range(100):
                    connection.sendall(b" ")
                    time.sleep(0.02)


class QuickReadClient(HeaderClient):
    POLICY = api.RetryPolicy(max_attempts=1, read_timeout=0.5)


def test_a_dripping_answer_on_a_real_socket_is_cut_at_the_read_timeout():
    server = DripServer()
    client = QuickReadClient(server.url, SECRET)
    with pytest.raises(api.ThreatMonError) as info:
        client.items()
    assert info.value.kind == "timeout"
    assert str(info.value).startswith("ThreatMon did not answer GET /items/0 within 0.5 seconds (ReadTimeout)")
    server.thread.join(timeout=6)


class CutRecorder:
    """Stands for an answer's watchdog: records when the watchdog thread cut it."""

    def __init__(self):
        self.cut_at: float | None = None
        self.done = threading.Event()

    def cut(self):
        self.cut_at = time.monotonic()
        self.done.set()


def counted_keeper() -> tuple[api._WatchdogThread, list[int]]:
    """A watchdog thread of its own (not the process's) that counts how often it is woken."""
    keeper = api._WatchdogThread()
    notified: list[int] = []
    notify = keeper._changed.notify
    keeper._changed.notify = lambda *args: (notified.append(1), notify(*args))
    return keeper, notified


def wait_until(condition, keeper: api._WatchdogThread) -> None:
    for _ in range(400):
        with keeper._changed:
            if condition():
                return
        time.sleep(0.005)
    raise AssertionError("the watchdog thread never got there")


def test_the_watchdog_thread_is_woken_only_for_a_deadline_before_its_wake_up_and_cuts_each_when_due():
    keeper, notified = counted_keeper()
    first, later, sooner, disarmed = CutRecorder(), CutRecorder(), CutRecorder(), CutRecorder()
    keeper.IDLE = 5.0  # its wake-ups are the deadlines below, not the idle check
    start = time.monotonic()  # the deadlines leave the test over a second to arm them all, on a loaded machine too
    keeper.arm(first, start + 1.2)  # starts the thread, which plans its wake-up itself
    wait_until(lambda: keeper._wakes_at == start + 1.2, keeper)
    keeper.arm(later, start + 1.4)  # after its wake-up: seen then, no thread switch now
    keeper.arm(disarmed, start + 1.3)
    assert notified == []
    keeper.arm(sooner, start + 0.1)  # before it: the thread is woken to plan again
    assert len(notified) == 1
    keeper.disarm(disarmed)
    for recorder, deadline in ((sooner, 0.1), (first, 1.2), (later, 1.4)):
        assert recorder.done.wait(5)
        assert start + deadline <= recorder.cut_at < start + deadline + 2
    assert sooner.cut_at < first.cut_at < later.cut_at
    assert disarmed.cut_at is None
    assert keeper._deadlines == {}


def test_answers_read_one_after_another_never_wake_the_watchdog_thread_which_ends_once_none_is_armed_for_a_while():
    keeper, notified = counted_keeper()  # with the default IDLE: a second, ample for three arms on a loaded machine
    answers = [CutRecorder() for _ in range(3)]
    threads = []
    for answer in answers:  # each disarmed (read in time) long before its deadline, as a real answer is
        keeper.arm(answer, time.monotonic() + 60)
        keeper.disarm(answer)
        threads.append(keeper._thread)
    assert notified == [] and threads[0] is not None and threads.count(threads[0]) == 3  # one thread for all
    threads[0].join(5)  # nothing armed for IDLE seconds: it ended, without waiting for the deadlines
    assert not threads[0].is_alive() and keeper._thread is None
    assert all(answer.cut_at is None for answer in answers)
    again = CutRecorder()
    keeper.arm(again, time.monotonic() + 0.05)  # a new thread for the next answer
    assert again.done.wait(5) and keeper._thread is not threads[0]


def test_the_watchdog_thread_does_not_end_while_an_answer_is_armed_however_long_it_takes():
    keeper = api._WatchdogThread()
    keeper.IDLE = 0.05
    slow = CutRecorder()
    start = time.monotonic()
    keeper.arm(slow, start + 0.4)  # an answer still being read many IDLE periods later
    thread = keeper._thread
    assert slow.done.wait(5) and start + 0.4 <= slow.cut_at < start + 2.4
    thread.join(5)  # then, with nothing armed, it ends
    assert not thread.is_alive()


def test_a_watchdog_disarmed_while_the_thread_cuts_it_is_disarmed_only_after_the_cut():
    keeper = api._WatchdogThread()
    cutting = threading.Event()

    class SlowCut(CutRecorder):
        def cut(self):
            cutting.set()
            time.sleep(0.2)  # a cut under way when the read ends
            super().cut()

    answer = SlowCut()
    keeper.arm(answer, time.monotonic() + 0.05)
    assert cutting.wait(5)
    keeper.disarm(answer)
    assert answer.cut_at is not None  # the cut ended first: no cut comes after disarm() returns


def test_a_watchdog_thread_that_cannot_start_leaves_nothing_armed_and_the_next_answer_starts_one(monkeypatch):
    keeper = api._WatchdogThread()
    refused = CutRecorder()

    def no_thread(_thread):
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", no_thread)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            keeper.arm(refused, time.monotonic() + 0.05)
    assert (keeper._deadlines, keeper._thread) == ({}, None)
    again = CutRecorder()
    keeper.arm(again, time.monotonic() + 0.05)
    assert again.done.wait(5)
    assert refused.cut_at is None


@pytest.mark.parametrize(
    "url",
    ["https://threatmon.test", "http://127.0.0.1:8080/api", "http://localhost", "HTTP://[::1]:9", "http://127.5.0.1"],
)
def test_require_https_accepts_https_and_plain_http_on_a_loopback_host(url):
    api.require_https(url, "Server URL (url)", "https://threatmon.test")


@pytest.mark.parametrize(
    "url", ["http://threatmon.test", "http://10.0.0.1", "http://localhost.evil.test", "http://[::2]", "http://0.0.0.0"]
)
def test_require_https_refuses_plain_http_elsewhere_in_one_sentence(url):
    with pytest.raises(ValueError) as info:
        api.require_https(url, "Server URL (url)", "https://threatmon.test")
    assert str(info.value) == (
        "Server URL (url) must be an https:// URL, such as https://threatmon.test, because over plain http the credential "
        f"would cross the network unencrypted (http is accepted only for a loopback host such as 127.0.0.1); got '{url}'."
    )


@pytest.mark.parametrize(("value", "text"), [(0, "0"), (7, "7"), (10**12, "1000000000000")])
def test_path_number_puts_whole_numbers_into_paths(value, text):
    assert api.path_number(value, "page") == text


@pytest.mark.parametrize("value", [True, -1, 1.0, "1", "1/../x", None])
def test_path_number_refuses_anything_else_before_a_request(value):
    with pytest.raises(ValueError, match=r"^The page put into the request path must be a whole number of at least 0; got "):
        api.path_number(value, "page")


def test_register_secret_hands_every_form_to_the_platforms_masking(monkeypatch):
    registered = []
    monkeypatch.setattr(api, "add_sensitive_log_strs", registered.append)
    api.register_secret(SECRET)
    api.register_secret("abc")  # too short to be searched for (see scrub)
    api.register_secret(None)
    assert sorted(registered) == sorted(
        {SECRET, "tm-Secret%2BKey%2F42%3D", "tm-Secret%2BKey/42%3D", "tm-Secret+Key\\/42="}  # the last: JSON's "\/"
    )
    assert all(SECRET not in api.scrub(f"x {form} y", SECRET) for form in registered)


@pytest.mark.parametrize(
    "body",
    [
        f'{{"data": [{{"note": "{SECRET}"}}]}}',
        '{"data": [{"note": "%s"}]}' % SECRET.replace("/", "\\/"),  # noqa: UP031
        f"<html>{urllib.parse.quote_plus(SECRET)}</html>",
    ],
)
def test_an_answer_that_echoes_the_secret_has_it_replaced_before_anything_reads_it(body):
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, text=body)
        response = make_client().items(expect=None)
    assert SECRET not in response.text and urllib.parse.quote_plus(SECRET) not in response.text
    assert api.REDACTED in response.text
