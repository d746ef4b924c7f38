"""Contract: BaseClient._http_request against requests_mock (and one real refused connection on 127.0.0.1)."""

import json
import os
import socket

import pytest
import requests
from CommonServerPython import BaseClient, DemistoException

BASE = "https://threatmon.test/api/v1"


@pytest.fixture
def client():
    return BaseClient(BASE, verify=True, proxy=False, headers={"X-COMPANY-API-KEY": "k", "accept": "application/json"})


# --- URLs, headers, parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "suffix"),
    [(BASE, "/alarms/1"), (BASE, "alarms/1"), (BASE + "/", "alarms/1"), (BASE + "/", "/alarms/1")],
)
def test_url_suffix_is_joined_to_the_base_with_one_slash(requests_mock, base, suffix):
    requests_mock.get(f"{BASE}/alarms/1", json={})
    BaseClient(base)._http_request("GET", suffix)
    assert requests_mock.last_request.url == f"{BASE}/alarms/1"


def test_full_url_replaces_the_base(requests_mock, client):
    requests_mock.get("https://ioc.test/api/daily-ioc-details/", json=[])
    client._http_request("GET", full_url="https://ioc.test/api/daily-ioc-details/")
    assert requests_mock.called


def test_client_headers_params_and_json_body_are_sent(requests_mock, client):
    requests_mock.patch(f"{BASE}/incident/status", json={})
    client._http_request("PATCH", "/incident/status", params={"page": 2}, json_data={"status": 2, "alarmIds": [7]})
    sent = requests_mock.last_request
    assert sent.headers["X-COMPANY-API-KEY"] == "k"
    assert sent.headers["accept"] == "application/json"
    assert sent.qs == {"page": ["2"]}
    assert sent.json() == {"status": 2, "alarmIds": [7]}


def test_call_headers_replace_the_client_headers(requests_mock, client):
    requests_mock.get(f"{BASE}/x", json={})
    client._http_request("GET", "/x", headers={"Other": "1"})
    assert requests_mock.last_request.headers.get("Other") == "1"
    assert "X-COMPANY-API-KEY" not in requests_mock.last_request.headers


def test_params_parser_controls_query_quoting(requests_mock, client):
    from urllib.parse import quote

    requests_mock.get(f"{BASE}/cve/1", json={})
    client._http_request("GET", "/cve/1", params={"customerName": "A B"}, params_parser=quote)
    assert requests_mock.last_request.url.endswith("customerName=A%20B")


def test_auth_is_sent(requests_mock):
    requests_mock.get(f"{BASE}/x", json={})
    BaseClient(BASE, auth=("user", "pass"))._http_request("GET", "/x")
    assert requests_mock.last_request.headers["Authorization"].startswith("Basic ")


def test_verify_and_default_timeout_reach_requests(requests_mock):
    requests_mock.get(f"{BASE}/x", json={})
    BaseClient(BASE, verify=False)._http_request("GET", "/x")
    assert requests_mock.last_request.verify is False
    assert requests_mock.last_request.timeout == 60.0


def test_call_timeout_wins_and_may_be_a_connect_read_pair(requests_mock, client):
    requests_mock.get(f"{BASE}/x", json={})
    client._http_request("GET", "/x", timeout=(3.05, 20))
    assert requests_mock.last_request.timeout == (3.05, 20)


@pytest.mark.parametrize(("env", "expected"), [({}, 60.0), ({"REQUESTS_TIMEOUT": "5"}, 5.0)])
def test_client_timeout_defaults_to_60_or_the_server_setting(monkeypatch, env, expected):
    monkeypatch.delenv("REQUESTS_TIMEOUT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert BaseClient(BASE).timeout == expected
    assert BaseClient(BASE, timeout=12).timeout == (expected if env else 12.0)


def test_one_session_serves_every_call(requests_mock, monkeypatch):
    created = []

    class CountingSession(requests.Session):
        def __init__(self):
            super().__init__()
            created.append(self)

    monkeypatch.setattr(requests, "Session", CountingSession)
    requests_mock.get(f"{BASE}/x", json={})
    client = BaseClient(BASE)
    client._http_request("GET", "/x")
    client._http_request("GET", "/x")
    assert len(created) == 1
    assert requests_mock.call_count == 2


# --- status codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 302, 399])
def test_without_ok_codes_any_status_below_400_is_success(requests_mock, client, status):
    requests_mock.get(f"{BASE}/x", status_code=status, text="ok")
    assert client._http_request("GET", "/x", resp_type="text") == "ok"


def test_error_status_with_json_body_raises_with_code_reason_and_body(requests_mock, client):
    requests_mock.get(f"{BASE}/x", status_code=401, reason="Unauthorized", json={"message": "invalid key"})
    with pytest.raises(DemistoException) as error:
        client._http_request("GET", "/x")
    assert str(error.value) == 'Error in API call [401] - Unauthorized\n{"message": "invalid key"}'
    assert error.value.res.status_code == 401
    assert error.value.exception is None


def test_error_status_with_text_body_raises_with_the_text(requests_mock, client):
    requests_mock.get(f"{BASE}/x", status_code=503, reason="Service Unavailable", text="<html>down</html>")
    with pytest.raises(DemistoException) as error:
        client._http_request("GET", "/x")
    assert str(error.value) == "Error in API call [503] - Service Unavailable\n<html>down</html>"
    assert error.value.res.text == "<html>down</html>"


def test_client_ok_codes_restrict_success(requests_mock):
    requests_mock.get(f"{BASE}/x", status_code=201, reason="Created", json={})
    with pytest.raises(DemistoException, match=r"^Error in API call \[201\] - Created"):
        BaseClient(BASE, ok_codes=(200,))._http_request("GET", "/x")


def test_call_ok_codes_override_the_client_ones(requests_mock):
    requests_mock.get(f"{BASE}/x", status_code=404, json={"data": []})
    assert BaseClient(BASE, ok_codes=(200,))._http_request("GET", "/x", ok_codes=(200, 404)) == {"data": []}


def test_is_status_code_valid(requests_mock, client):
    requests_mock.get(f"{BASE}/x", status_code=404)
    response = requests.get(f"{BASE}/x", timeout=1)
    assert client._is_status_code_valid(response) is False
    assert client._is_status_code_valid(response, ok_codes=(404,)) is True


def test_error_handler_replaces_the_default_error(requests_mock, client):
    seen = []
    requests_mock.get(f"{BASE}/x", status_code=429, json={"message": "slow down"})

    def handler(res):
        seen.append(res.status_code)
        raise DemistoException("rate limited", res=res)

    with pytest.raises(DemistoException, match=r"^rate limited$"):
        client._http_request("GET", "/x", error_handler=handler)
    assert seen == [429]


def test_an_error_handler_that_does_not_raise_lets_the_body_through(requests_mock, client):
    requests_mock.get(f"{BASE}/x", status_code=409, json={"message": "already requested"})
    assert client._http_request("GET", "/x", error_handler=lambda res: None) == {"message": "already requested"}


# --- response types and empty bodies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resp_type", "expected"), [("json", {"a": 1}), ("JSON", {"a": 1}), ("text", '{"a": 1}'), ("content", b'{"a": 1}')]
)
def test_resp_type_decides_what_is_returned(requests_mock, client, resp_type, expected):
    requests_mock.get(f"{BASE}/x", text='{"a": 1}')
    assert client._http_request("GET", "/x", resp_type=resp_type) == expected


@pytest.mark.parametrize("resp_type", ["response", "xml"])
def test_response_and_xml_resp_types_return_the_response(requests_mock, client, resp_type):
    requests_mock.get(f"{BASE}/x", text="<a>1</a>")
    response = client._http_request("GET", "/x", resp_type=resp_type)
    assert isinstance(response, requests.Response)
    assert response.text == "<a>1</a>"


@pytest.mark.parametrize(
    ("body", "shown"), [("", "b''"), ("<html>oops</html>", "b'<html>oops</html>'"), ('{"data": [', "b'{\"data\": ['")]
)
def test_a_body_that_is_not_json_raises_a_parse_error(requests_mock, client, body, shown):
    requests_mock.get(f"{BASE}/x", status_code=200, text=body)
    with pytest.raises(DemistoException) as error:
        client._http_request("GET", "/x")
    assert str(error.value) == f"Failed to parse json object from response: {shown}"
    assert isinstance(error.value.exception, ValueError)
    assert error.value.res.status_code == 200


def test_empty_204_is_returned_as_the_response_when_asked(requests_mock, client):
    requests_mock.patch(f"{BASE}/x", status_code=204)
    response = client._http_request("PATCH", "/x", return_empty_response=True)
    assert isinstance(response, requests.Response)
    assert response.status_code == 204


def test_empty_200_needs_empty_valid_codes_to_be_returned(requests_mock, client):
    requests_mock.patch(f"{BASE}/x", status_code=200, text="")
    response = client._http_request("PATCH", "/x", return_empty_response=True, empty_valid_codes=[200, 204])
    assert response.status_code == 200
    with pytest.raises(DemistoException, match=r"^Failed to parse json object from response: b''$"):
        client._http_request("PATCH", "/x", return_empty_response=True)


def test_return_empty_response_does_not_hide_a_body(requests_mock, client):
    requests_mock.patch(f"{BASE}/x", status_code=200, json={"ok": True})
    assert client._http_request("PATCH", "/x", return_empty_response=True) == {"ok": True}


# --- transport failures ------------------------------------------------------------------------------

CONNECTION_ADVICE = "Verify that the server URL parameter is correct and that you have access to the server from your host."


def test_connection_error_message_names_the_error_type(requests_mock, client):
    requests_mock.get(f"{BASE}/x", exc=requests.exceptions.ConnectionError("Name or service not known"))
    with pytest.raises(DemistoException) as error:
        client._http_request("GET", "/x")
    assert (
        str(error.value) == f"{CONNECTION_ADVICE}\nError Type: <requests.exceptions.ConnectionError>\nName or service not known"
    )
    assert isinstance(error.value.exception, requests.exceptions.ConnectionError)


def test_a_refused_connection_on_localhost_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DemistoException) as error:
        BaseClient(f"http://127.0.0.1:{port}")._http_request("GET", "/x", timeout=5)
    assert str(error.value).startswith(f"{CONNECTION_ADVICE}\nError Type: <requests.exceptions.ConnectionError>\n")


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (
            requests.exceptions.ConnectTimeout("connect timed out"),
            "Connection Timeout Error - potential reasons might be that the Server URL parameter is incorrect or that the "
            "Server is not accessible from your host.",
        ),
        (
            requests.exceptions.SSLError("certificate verify failed"),
            "SSL Certificate Verification Failed - try selecting 'Trust any certificate' checkbox in the integration "
            "configuration.",
        ),
        (
            requests.exceptions.ProxyError("proxy refused"),
            "Proxy Error - if the 'Use system proxy' checkbox in the integration configuration is selected, try clearing "
            "the checkbox.",
        ),
        (requests.exceptions.RetryError("too many 503"), "Max Retries Error- Request attempts with 0 retries failed. \n"),
    ],
)
def test_transport_failures_become_demisto_exceptions_with_advice(requests_mock, client, exception, message):
    requests_mock.get(f"{BASE}/x", exc=exception)
    with pytest.raises(DemistoException) as error:
        client._http_request("GET", "/x")
    assert str(error.value) == message
    assert error.value.exception is exception


def test_ssl_error_is_not_wrapped_when_certificates_are_not_checked(requests_mock):
    requests_mock.get(f"{BASE}/x", exc=requests.exceptions.SSLError("handshake failure"))
    with pytest.raises(requests.exceptions.SSLError):
        BaseClient(BASE, verify=False)._http_request("GET", "/x")


@pytest.mark.parametrize(
    "exception",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("connection broken: incomplete read"),
        requests.exceptions.ContentDecodingError("bad gzip"),
        requests.exceptions.TooManyRedirects("30 redirects"),
    ],
)
def test_read_timeouts_and_broken_bodies_are_not_wrapped(requests_mock, client, exception):
    requests_mock.get(f"{BASE}/x", exc=exception)
    with pytest.raises(type(exception)) as error:
        client._http_request("GET", "/x")
    assert error.value is exception


def test_a_base_url_without_scheme_is_not_wrapped():
    with pytest.raises(requests.exceptions.MissingSchema):
        BaseClient("threatmon.test/api")._http_request("GET", "/x")


def test_retries_are_mounted_for_https_only(requests_mock, client):
    requests_mock.get(f"{BASE}/x", json={})
    client._http_request("GET", "/x", retries=3, status_list_to_retry=[429, 503], backoff_factor=0.5)
    retry = client._session.adapters["https://"].max_retries
    assert (retry.total, retry.backoff_factor, tuple(retry.status_forcelist)) == (3, 0.5, (429, 503))
    assert client._session.adapters["http://"].max_retries.total == 0


# --- proxy and certificate environment -------------------------------------------------------------


def test_without_proxy_the_proxy_environment_is_cleared(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    BaseClient(BASE, proxy=False)
    assert "HTTPS_PROXY" not in os.environ
    assert "http_proxy" not in os.environ


def test_with_proxy_the_proxy_gets_a_scheme(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "proxy.test:3128")
    BaseClient(BASE, proxy=True)
    assert os.environ["HTTPS_PROXY"] == "http://proxy.test:3128"


def test_without_verify_the_ca_bundle_environment_is_cleared(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    BaseClient(BASE, verify=False)
    assert "REQUESTS_CA_BUNDLE" not in os.environ


# --- DemistoException -----------------------------------------------------------------------------


def test_demisto_exception_attributes():
    cause = ValueError("bad")
    error = DemistoException("Failed.", cause, res="response")
    assert str(error) == "Failed."
    assert (error.message, error.exception, error.res, error.error_type) == ("Failed.", cause, "response", None)
    assert error.args == ("Failed.", cause, None)
    assert json.dumps(str(error)) == '"Failed."'
