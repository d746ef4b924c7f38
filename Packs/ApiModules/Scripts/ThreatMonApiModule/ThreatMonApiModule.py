"""ThreatMonApiModule: the HTTP transport and the value parsers both ThreatMon integrations share.

An integration star-imports it, as the content repository's integrations import their API modules. demisto-sdk
puts this file in place of that import line when it unifies the integration (so this text must not spell the line
out: the unifier would inline the module into itself), and every uploaded integration is still one file.

- ``ThreatMonError``: every failure the integrations explain, classified by one vocabulary of kinds (``ERROR_KINDS``).
- ``ThreatMonClient``: a ``BaseClient`` with one bounded retry loop (``RetryPolicy``; a deadline per run; a capped
  ``Retry-After`` in seconds, fractional seconds or an HTTP date; a request that changes something retried only when
  the server surely did not act on it), one status classifier and one transport classifier. The sentences are
  shared; the words that differ between ThreatMon's APIs (what the credential is, what the Server URL should be,
  what to check or lower) come from each integration's ``ApiHints``.
- What keeps the secret on ThreatMon's hosts: no redirect is followed (a 3xx is an error naming where it pointed),
  every answer is read up to a byte bound and a time budget (``MAX_ANSWER_BYTES``), ``require_https`` refuses a
  plain-http Server URL (except on a loopback host), ``path_number`` puts only whole numbers into paths, and
  ``register_secret`` hands the secret to the platform's log masking (``add_sensitive_log_strs``).
- ``scrub`` (a secret, plain or URL-encoded, and any token query value), ``parse_int`` and ``parse_flag`` (whole
  numbers and true/false from XSOAR text; an instance parameter is named by its form label, then its name in
  brackets: ``param_title``), ``parse_time`` (the time formats ThreatMon's answers use), ``parse_retry_after``.

What is known of ThreatMon's APIs, and what is not, is in this module's README (ThreatMon API behaviour): the rate
limit is unknown, which is why every status is classified here and why the retry loop is bounded.
"""

import contextlib
import email.utils
import ipaddress
import json
import math
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

import requests
import urllib3
from CommonServerPython import *

""" CONSTANTS """

ALL_STATUS_CODES = tuple(range(100, 600))  # BaseClient refuses nothing: every status is classified here
REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 4  # a shorter "secret" is not searched for: masking every "a" would only garble the message
SECRET_QUERY = re.compile(r"\b((?:api_?token|api_?key|token)=)[^&\s'\"<>]+", re.IGNORECASE)
DNS_FAILURE_HINTS = ("nameresolution", "name resolution", "name or service not known", "nodename nor servname", "getaddrinfo")
BAD_URL_ERRORS = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
BROKEN_ANSWER_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
DETAIL_KEYS = ("message", "error", "detail")  # where ThreatMon's error objects put their explanation
DETAIL_LENGTH = 200
READ_CHUNK = 64 * 1024  # bytes read from the socket at a time while an answer is checked against its bound
REDIRECT_STATUSES = range(300, 400)  # never followed: requests would resend a custom key header to any host
LOOPBACK_NAMES = ("localhost",)  # with the loopback addresses (127.0.0.0/8, ::1): the only hosts plain http may reach

# Epoch seconds sent as text: 9 to 13 digits (1973 to 2286, seconds or milliseconds). A shorter or longer run of
# digits is no time. ASCII digits only: \d would also match other scripts' digits, which int() accepts.
EPOCH_TEXT = re.compile(r"[0-9]{9,13}(\.[0-9]+)?")
EPOCH_MS_ABOVE = 100_000_000_000  # a larger epoch number counts milliseconds
# Formats tried after ISO-8601 (the one ThreatMon documents). No dateparser: on garbage it spends seconds per value,
# and a fetch run must not spend its time budget on one bad date.
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M")
UTC_SUFFIXES = (" UTC", " GMT")

# Every kind a ThreatMonError can have: one vocabulary for both integrations.
ERROR_KINDS = {
    "auth": "ThreatMon refused the credential (HTTP 401 or 403)",
    "not_found": "HTTP 404: a wrong Server URL, or an object ThreatMon does not have",
    "rejected": "ThreatMon refused the request itself (another 4xx, or an error object where data was expected)",
    "redirect": "an HTTP 3xx: the request was sent elsewhere, which is never followed",
    "too_large": "an answer larger than the bound for its request",
    "rate_limited": "HTTP 429",
    "unavailable": "HTTP 408 or 5xx",
    "bad_body": "an answer that is not the JSON expected (truncated, an HTML page from a proxy, another shape)",
    "timeout": "no answer in time",
    "unreachable": "no connection: DNS, refused, no answer to the connect",
    "broken": "the connection broke while the answer was read",
    "ssl": "the TLS certificate could not be verified",
    "proxy": "the proxy failed the connection",
    "url": "the Server URL is not a usable URL",
    "deadline": "the time budget of the run was used up",
    "inconsistent": "ThreatMon's answers contradict each other, so nothing is guessed",
    "error": "any other failure of the request",
}

""" ERRORS """


class ThreatMonError(DemistoException):
    """A failure talking to ThreatMon, as one sentence a SOC engineer can act on.

    ``kind`` is one of ``ERROR_KINDS``; ``retryable`` says whether the same request may succeed later;
    ``retry_after`` is the wait ThreatMon asked for, in seconds, when it asked.
    """

    def __init__(
        self,
        message: str,
        kind: str,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        if kind not in ERROR_KINDS:
            raise ValueError(f"'{kind}' is not a ThreatMonError kind: use one of {', '.join(ERROR_KINDS)}.")
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


""" CLIENT """

# ApiHints and RetryPolicy are NamedTuples, not frozen dataclasses: as immutable, and built about ten times faster
# when the integration starts, which XSOAR does for every run (a dataclass compiles each method it generates).


class ApiHints(NamedTuple):
    """The words that differ between ThreatMon's APIs. The sentences around them are ThreatMonClient's."""

    credential: str  # what a 401/403 refused: "API key"
    credential_check: str  # what to check then: "that the API key is valid and ..."
    server_url: str  # what the Server URL should be, after "use": "https://external.threatmonit.io"
    rejected_check: str = "the arguments"  # what to check when ThreatMon rejects a request (another 4xx)
    slow_down: str = "lower the fetch frequency"  # what to lower when rate limited
    slow_answer: str = ""  # what else may help when an answer takes too long
    not_found_checks: Mapping[str, str] = MappingProxyType({})  # path -> what to check first on a 404 there
    server_url_setting: str = "Server URL (url)"  # the setting a redirect says to change: its form label (its name)
    too_large: str = "check the Server URL; if it is right, tell ThreatMon support"  # what to do about an oversized answer


class RetryPolicy(NamedTuple):
    """How hard one request tries. Attempt n (from 1) that fails retryably waits ``backoff_base * 2**(n-1)`` seconds,
    at most ``backoff_cap``, or what Retry-After asks, at most ``retry_after_cap``; no retry starts a wait that would
    leave less than ``min_request_time`` before the client's deadline."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 10.0
    min_request_time: float = 1.0
    connect_timeout: float = 5.0
    read_timeout: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return min(self.backoff_base * 2 ** (attempt - 1), self.backoff_cap)


def any_json(body: Any) -> bool:
    """``expect=`` for a request whose caller checks the shape of the JSON answer itself."""
    return True


_NOT_JSON = object()


class ThreatMonClient(BaseClient):
    """Speaks HTTP to a ThreatMon API and nothing else; an integration's ``Client`` adds only its endpoints.

    A subclass sets ``HINTS`` (its words in the error sentences), ``POLICY`` (its retry policy and timeouts) and
    where the secret goes: ``CREDENTIAL_HEADER`` (a header name) or ``CREDENTIAL_PARAM`` (a query parameter on every request).
    Every request goes through ``_request``: it never follows a redirect (``allow_redirects=False``; a 3xx is an error
    that is not retried), and it reads the answer itself, streamed, up to ``MAX_ANSWER_BYTES`` (or the request's own
    ``max_bytes``) and within the read timeout as a whole, so an endless or dripping answer ends too. ``sleep``,
    ``clock`` (monotonic, for the deadline) and ``wall_clock`` (epoch, for Retry-After dates) are injectable so tests
    never wait.
    """

    HINTS = ApiHints(credential="API key", credential_check="the credential", server_url="the ThreatMon API URL")
    POLICY = RetryPolicy()
    CREDENTIAL_HEADER: str | None = None
    CREDENTIAL_PARAM: str | None = None
    MAX_ANSWER_BYTES = 16 * 1024 * 1024

    def __init__(
        self,
        base_url: str,
        secret: str,
        verify: bool = True,
        proxy: bool = False,
        *,
        deadline_seconds: float | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log: Callable[[str], Any] | None = None,
    ):
        headers = {"accept": "application/json"}
        if self.CREDENTIAL_HEADER:
            headers[self.CREDENTIAL_HEADER] = secret
        super().__init__(base_url=base_url, verify=verify, proxy=proxy, headers=headers)
        self._secret = secret
        # The forms of the secret an answer could echo, encoded once: every answer is searched for them.
        long_enough = bool(secret) and len(secret) >= MIN_SECRET_LENGTH
        self._secret_bytes = [form.encode("utf-8") for form in secret_forms(secret)] if long_enough else []
        self._max_attempts = max(1, self.POLICY.max_attempts if max_attempts is None else max_attempts)
        self._sleep = sleep or time.sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = log or (lambda _message: None)
        self._deadline = clock() + deadline_seconds if deadline_seconds else None
        session = getattr(self, "_session", None)
        if not proxy and session is not None:
            # requests reads the environment again on every request (proxies, CA bundle, .netrc): about a third of the
            # CPU a small answer costs. Without the system proxy only the CA bundle matters, so it is read once, here,
            # with requests' own precedence (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE, only when verifying).
            session.trust_env = False
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if verify and bundle:
                self._verify = bundle

    def scrub(self, text: str) -> str:
        """The text without this client's secret (see ``scrub``)."""
        return scrub(text, self._secret)

    # ----- the retry loop -----

    def _request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        json_data: Any = None,
        expect: Callable[[Any], bool] | None = None,
        passthrough: tuple[int, ...] = (),
        post_safe_retry: bool = False,
        max_bytes: int | None = None,
    ) -> Any:
        """Send one request with bounded retries.

        Returns the parsed JSON body when ``expect`` is given and accepts it, else the response. A status in
        ``passthrough`` comes back as the response, for the caller to turn into its own sentence. ``post_safe_retry``
        marks a request that changes something (a POST): it is retried only when the server surely did not act on it
        (429, 503, or a connection that was never made). ``max_bytes`` bounds the answer (default
        ``MAX_ANSWER_BYTES``). Raises ThreatMonError otherwise.
        """
        if self.CREDENTIAL_PARAM:
            params = {self.CREDENTIAL_PARAM: self._secret, **(params or {})}
        attempt = 0
        while True:
            attempt += 1
            answer = self._attempt(method, path, params, json_data, expect, passthrough, post_safe_retry, max_bytes)
            if not isinstance(answer, ThreatMonError):
                return answer
            error = answer
            if not error.retryable or attempt >= self._max_attempts:
                if error.retryable and attempt > 1:
                    error.message = f"{error.message} Gave up after {attempt} attempts."
                raise error
            delay = self.POLICY.delay(attempt, error.retry_after)
            if self._deadline is not None and self._clock() + delay + self.POLICY.min_request_time > self._deadline:
                error.message = f"{error.message} No time was left in this run to try again."
                raise error
            self._log(f"ThreatMon {method} {path}: {error.kind} on attempt {attempt}; retrying in {delay:.1f}s")
            self._sleep(delay)

    def _attempt(
        self,
        method: str,
        path: str,
        params: dict | None,
        json_data: Any,
        expect: Callable[[Any], bool] | None,
        passthrough: tuple[int, ...],
        post_safe_retry: bool,
        max_bytes: int | None = None,
    ) -> Any:
        """One try: the answer, or a ThreatMonError saying why it failed (returned, not raised, and never chained to a
        requests exception, whose text holds the full URL)."""
        timeout = self._timeout_now(method, path)
        sent = self._clock()
        try:
            # allow_redirects and stream go through BaseClient (the official one and the stand-in alike) to requests.
            # Without allow_redirects=False, requests follows a 3xx to any host with the session's headers: it drops
            # Authorization on a cross-host hop, not a custom key header, and a 307/308 resends the body too.
            response = self._http_request(
                method,
                url_suffix=path,
                params=params,
                json_data=json_data,
                resp_type="response",
                ok_codes=ALL_STATUS_CODES,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except (DemistoException, requests.exceptions.RequestException) as exc:
            refused = getattr(exc, "res", None)
            cause = exc if isinstance(exc, requests.exceptions.RequestException) else getattr(exc, "exception", None)
            if isinstance(refused, requests.Response):  # a status BaseClient judged on its own
                response = refused
            elif isinstance(cause, requests.exceptions.RequestException):
                # The official BaseClient wraps connect timeouts, connection, SSL and proxy errors in a DemistoException
                # whose .exception is the requests exception; read timeouts and dropped bodies come unwrapped.
                return self.classify_transport(cause, method, path, timeout, post_safe_retry)
            else:
                raise  # not a transport failure: a bug is not hidden behind a sentence
        status = response.status_code
        if status in REDIRECT_STATUSES:
            response.close()  # its body is not read: nothing of it is needed
            return self.classify_redirect(response, method, path)
        limit = max_bytes or self.MAX_ANSWER_BYTES
        unread = self._read_answer(response, method, path, timeout, post_safe_retry, limit, sent + timeout[1])
        if unread is not None:
            return unread
        if not (200 <= status < 300 or status in passthrough):
            return self.classify_status(response, method, path, post_safe_retry)
        if expect is None or status in passthrough:
            return response
        body = _json_of(response)
        if body is not _NOT_JSON and expect(body):
            return body
        start = self.scrub(" ".join(response.text[:80].split()))
        return ThreatMonError(
            f"ThreatMon answered {method} {path} with a body that is not the expected JSON "
            f"({f'it starts with {start!r}' if start else 'an empty body'}): a truncated answer, or an error page from a "
            f"proxy or another host; check the Server URL (use {self.HINTS.server_url}) and try again later.",
            kind="bad_body",
            status_code=status,
            retryable=method == "GET",
        )

    def _read_answer(
        self,
        response: requests.Response,
        method: str,
        path: str,
        timeout: tuple[float, float],
        post_safe_retry: bool,
        limit: int,
        ends: float,
    ) -> ThreatMonError | None:
        """Read the streamed answer into ``response`` (so .content, .text and .json() work), or say why not: more than
        ``limit`` bytes (after decompression, so a small compressed answer cannot grow past it), longer than the read
        timeout as a whole, counted from when the request was sent (``ends``; a server that drips a byte now and then
        never trips the per-read timeout), or a read that failed. The connection is closed on every refusal, so
        nothing more is read."""
        if getattr(response, "_content", False) is not False:  # already in memory (a BaseClient that read it)
            if len(response.content or b"") > limit:
                return self._too_large(method, path, limit, response.status_code)
            response._content = self._without_secret(response.content or b"")
            return None
        declared = parse_int_or_none(response.headers.get("Content-Length"))
        if declared is not None and declared > limit:
            response.close()
            return self._too_large(method, path, limit, response.status_code)
        chunks: list[bytes] = []
        size = 0
        # One read of READ_CHUNK bytes may take many socket reads, each within the per-read timeout: a server that
        # drips a byte at a time would hold it for hours. The watchdog cuts the connection when the time is up.
        watchdog = _Watchdog(response, ends - self._clock())
        try:
            for chunk in response.iter_content(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    response.close()
                    return self._too_large(method, path, limit, response.status_code)
                chunks.append(chunk)
                if self._clock() > ends or watchdog.fired:
                    break
        except requests.exceptions.RequestException as exc:
            response.close()
            if not watchdog.fired:
                if any(isinstance(item, urllib3.exceptions.ReadTimeoutError) for item in _exception_chain(exc)):
                    exc = requests.exceptions.ReadTimeout()  # requests reports a read timeout mid-body as a ConnectionError
                return self.classify_transport(exc, method, path, timeout, post_safe_retry)
        finally:
            watchdog.cancel()
        if watchdog.fired or self._clock() > ends:  # a cut connection may look like the end of the answer: it is not
            response.close()
            return self.classify_transport(requests.exceptions.ReadTimeout(), method, path, timeout, post_safe_retry)
        response._content = self._without_secret(b"".join(chunks))
        setattr(response, "_content_consumed", True)  # noqa: B010 - requests' own flag, not in its type stubs
        return None

    def _without_secret(self, content: bytes) -> bytes:
        """The answer with every echo of the secret replaced by <redacted>, before anything reads it: a server (or a
        proxy's error page) that repeats the key must not put it into a war-room entry, the context or a log."""
        for encoded in self._secret_bytes:
            if encoded in content:
                content = content.replace(encoded, REDACTED.encode())
        return content

    def _too_large(self, method: str, path: str, limit: int, status: int) -> ThreatMonError:
        return ThreatMonError(
            f"ThreatMon's answer to {method} {path} is larger than {_size_text(limit)}, the most this request accepts, so "
            f"it was not read further and nothing of it was used: {self.HINTS.too_large}.",
            kind="too_large",
            status_code=status,
        )

    def _timeout_now(self, method: str, path: str) -> tuple[float, float]:
        connect, read = self.POLICY.connect_timeout, self.POLICY.read_timeout
        if self._deadline is None:
            return connect, read
        left = self._deadline - self._clock()
        if left < self.POLICY.min_request_time:
            raise ThreatMonError(
                f"The time budget of this run was used up before {method} {path} could be sent (ThreatMon was slow or "
                "failing): try again later; a fetch continues where its last run stopped.",
                kind="deadline",
            )
        return min(connect, left), min(read, left)

    # ----- the classifiers -----

    def classify_redirect(self, response: requests.Response, method: str, path: str) -> ThreatMonError:
        """The error for a 3xx: where it pointed (without its query, which may carry a token), the Server URL it
        suggests, and that nothing was sent there. Not retried: the same request gets the same redirect."""
        status = response.status_code
        target = _redirect_target(response, self._base_url, path)
        setting = self.HINTS.server_url_setting
        if target is None:
            return ThreatMonError(
                f"ThreatMon answered {method} {path} with HTTP {status}, a redirect without a Location; it was not "
                f"followed and nothing was sent elsewhere: check the {setting} (use {self.HINTS.server_url}).",
                kind="redirect",
                status_code=status,
            )
        shown, suggested = target
        return ThreatMonError(
            f"ThreatMon answered {method} {path} with HTTP {status}, a redirect to {self.scrub(shown)}. Redirects are "
            f"never followed, so nothing was sent there (not the {self.HINTS.credential} either): the {setting} should "
            f"probably be {self.scrub(suggested)}; check that address with ThreatMon before you change the setting.",
            kind="redirect",
            status_code=status,
        )

    def classify_status(self, response: requests.Response, method: str, path: str, post_safe_retry: bool) -> ThreatMonError:
        """The error for an HTTP status outside 2xx: its kind, whether a retry may help, and the sentence."""
        status = response.status_code
        detail = self._server_detail(response)
        said = f"; ThreatMon said: {detail}" if detail else ""
        hints = self.HINTS
        if status in (401, 403):
            return ThreatMonError(
                f"ThreatMon refused the {hints.credential} (HTTP {status}{said}): check {hints.credential_check}.",
                kind="auth",
                status_code=status,
            )
        if status == 404:
            first = hints.not_found_checks.get(path)
            check = f"{first} and the Server URL" if first else "the Server URL"
            quoted = f" (ThreatMon said: {detail})" if detail else ""
            return ThreatMonError(
                f"ThreatMon answered HTTP 404 for {method} {self._base_url}{path}{quoted}: check {check} "
                f"(use {hints.server_url}).",
                kind="not_found",
                status_code=status,
            )
        if status == 429:
            return ThreatMonError(
                f"ThreatMon is rate limiting the requests (HTTP 429): wait a few minutes, and {hints.slow_down} if it persists.",
                kind="rate_limited",
                status_code=status,
                retryable=True,  # ThreatMon did not act on a request it refused
                retry_after=self._retry_after(response),
            )
        if status >= 500 or status == 408:
            return ThreatMonError(
                f"ThreatMon is unavailable or failing (HTTP {status} for {method} {path}{said}): try again later; if it "
                "persists, contact ThreatMon support.",
                kind="unavailable",
                status_code=status,
                retryable=not post_safe_retry or status == 503,  # 503: the server says it took nothing in
                retry_after=self._retry_after(response),
            )
        return ThreatMonError(
            f"ThreatMon rejected {method} {path} (HTTP {status}{said}): check {hints.rejected_check}.",
            kind="rejected",
            status_code=status,
        )

    def classify_transport(
        self,
        exc: requests.exceptions.RequestException,
        method: str,
        path: str,
        timeout: tuple[float, float],
        post_safe_retry: bool,
    ) -> ThreatMonError:
        """The error for a request that got no HTTP answer. Built from the exception's class, never from its text
        (which holds the full URL), except for the words that say why a connection failed."""
        name = type(exc).__name__
        host = self._base_url
        if isinstance(exc, requests.exceptions.SSLError):
            return ThreatMonError(
                f"The TLS certificate of {host} could not be verified ({name}): fix the certificate chain, or tick "
                "'Trust any certificate (not secure)' if you trust this server.",
                kind="ssl",
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            return ThreatMonError(
                f"The proxy failed the connection to {host} ({name}): check the system proxy, or untick 'Use system "
                "proxy settings'.",
                kind="proxy",
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ThreatMonError(
                f"Could not reach ThreatMon at {host}: no connection within {timeout[0]:g} seconds ({name}); check the "
                "Server URL and the firewall between XSOAR and ThreatMon.",
                kind="unreachable",
                retryable=True,  # nothing was sent
            )
        if isinstance(exc, requests.exceptions.Timeout):
            also = f", or {self.HINTS.slow_answer}" if self.HINTS.slow_answer else ""
            return ThreatMonError(
                f"ThreatMon did not answer {method} {path} within {timeout[1]:g} seconds ({name}): try again later{also}; "
                "if it persists, check the network path to ThreatMon.",
                kind="timeout",
                retryable=not post_safe_retry,
            )
        if isinstance(exc, BAD_URL_ERRORS):
            return ThreatMonError(
                f"The Server URL {host} is not a usable URL ({name}): use {self.HINTS.server_url}.",
                kind="url",
            )
        if isinstance(exc, BROKEN_ANSWER_ERRORS):
            return ThreatMonError(
                f"The connection to ThreatMon broke while the answer to {method} {path} was read ({name}): try again later.",
                kind="broken",
                retryable=not post_safe_retry,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return ThreatMonError(
                f"Could not reach ThreatMon at {host}: {_connection_failure(exc)} ({name}); check the Server URL, DNS "
                "and the firewall or proxy between XSOAR and ThreatMon.",
                kind="unreachable",
                retryable=not post_safe_retry or _never_connected(exc),
            )
        return ThreatMonError(f"The request {method} {path} to ThreatMon failed ({name}).", kind="error")

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds Retry-After asks for. An HTTP date is compared with the answer's own Date (the same clock), else
        with ours."""
        served = _http_date(response.headers.get("Date"))
        now = served.timestamp() if served else self._wall_clock()
        return parse_retry_after(response.headers.get("Retry-After"), now)

    def _server_detail(self, response: requests.Response) -> str:
        """The server's own short explanation, when it gave one (never the secret); else empty."""
        body = _json_of(response)
        if isinstance(body, dict):
            texts = [body[key] for key in DETAIL_KEYS if isinstance(body.get(key), str)]
        elif body is _NOT_JSON and not response.text.lstrip().startswith("<"):  # plain text, not an HTML error page
            texts = [response.text]
        else:
            texts = []
        for text in texts:
            text = " ".join(text.split())
            if text:
                return self.scrub(text)[:DETAIL_LENGTH]
        return ""


def parse_int_or_none(text: Any) -> int | None:
    """A non-negative whole number from header text (ASCII digits only), else None."""
    text = str(text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    return f"{size / 1024:g} KiB" if size >= 1024 else f"{size} bytes"


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket an answer is read from: the connection's while it is kept alive; the one the answer's file reads
    (http.client drops the connection's reference when the server closes after the answer). None for a test double."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Watchdog:
    """Shuts the answer's socket down after ``seconds`` (real time), which ends any read blocked on it; ``fired``
    tells the reader that the end it saw was the cut. Only a real urllib3 connection has a socket (a test double
    has none, and its reads are bounded by the client's clock instead). Every watchdog of the process is kept by one
    daemon thread (``_WatchdogThread``): arming one costs a lock, not a thread per request."""

    def __init__(self, response: requests.Response, seconds: float):
        self.fired = False
        self._sock = _socket_of(response)
        self._keeper: _WatchdogThread | None = None  # the one it was armed with (a reloaded module has another)
        if self._sock is not None:
            _WATCHDOGS.arm(self, time.monotonic() + max(seconds, 0.0))
            self._keeper = _WATCHDOGS

    def cut(self) -> None:
        self.fired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Disarm it: once this returns, it is not cut (a cut in progress has finished)."""
        if self._keeper is not None:
            self._keeper.disarm(self)
            self._keeper = None


class _WatchdogThread:
    """The thread that cuts the sockets of the answers read past their time (see ``_Watchdog``), one at a time per
    process: it starts with a watchdog armed while none runs, and ends (a daemon thread, it never holds the process
    up anyway) once nothing has been armed for IDLE seconds, so it does not outlive the run that started it by much
    (with it, that run's module: XSOAR runs the integration again and again in one process).

    It wakes when the nearest deadline is due, and at least every IDLE seconds to see whether it may end; it is
    woken only for a deadline before its next wake-up. Each request's deadline is later than the one before, so
    requests sent one after another cost a lock each, not a switch to this thread (which would cost more than
    reading a small answer)."""

    IDLE = 1.0  # seconds without an answer armed after which the thread ends

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._deadlines: dict[_Watchdog, float] = {}
        self._thread: threading.Thread | None = None
        self._wakes_at: float | None = None  # when the thread wakes next by itself (None: only when woken)
        self._armed_at = 0.0  # when a watchdog was armed last

    def arm(self, watchdog: _Watchdog, deadline: float) -> None:
        with self._changed:
            self._deadlines[watchdog] = deadline
            self._armed_at = time.monotonic()
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="threatmon-answer-watchdog", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had: nothing is left armed, and the next answer tries again
                    del self._deadlines[watchdog]
                    raise
                self._thread = thread
                self._wakes_at = deadline  # it plans its wake-up as soon as it runs: until then, no need to wake it
            elif self._wakes_at is None or deadline < self._wakes_at:
                self._wakes_at = deadline  # it plans again when it wakes: until then, later deadlines need no wake-up
                self._changed.notify()

    def disarm(self, watchdog: _Watchdog) -> None:
        with self._changed:
            self._deadlines.pop(watchdog, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [watchdog for watchdog, deadline in self._deadlines.items() if deadline <= now]
                for watchdog in due:
                    del self._deadlines[watchdog]
                if not due:
                    if self._deadlines:
                        self._wakes_at = min(min(self._deadlines.values()), now + self.IDLE)
                    elif now < self._armed_at + self.IDLE:
                        self._wakes_at = self._armed_at + self.IDLE  # the run may go on: another answer may come
                    else:
                        self._thread = self._wakes_at = None  # nothing armed for IDLE seconds: it ends
                        return
                    self._changed.wait(self._wakes_at - now)
                    continue
                for watchdog in due:  # under the lock (a shutdown does not block): once disarm() returns, no cut comes
                    watchdog.cut()


_WATCHDOGS = _WatchdogThread()


def _redirect_target(response: requests.Response, base_url: str, path: str) -> tuple[str, str] | None:
    """(where a 3xx points, without query or fragment; the Server URL that address suggests), or None without a
    usable Location. A relative Location is read against the URL the request went to. The suggestion is the target
    without the request's endpoint ``path`` when it ends with it, else the target's scheme and host."""
    location = " ".join(str(response.headers.get("Location") or "").split())
    if not location:
        return None
    target = urllib.parse.urlsplit(urllib.parse.urljoin(base_url + path, location))
    if not target.scheme or not target.netloc:
        return None
    shown = urllib.parse.urlunsplit((target.scheme, target.netloc, target.path, "", ""))
    endpoint = path.rstrip("/")
    prefix = target.path.rstrip("/")[: -len(endpoint)] if endpoint and target.path.rstrip("/").endswith(endpoint) else ""
    return shown, f"{target.scheme}://{target.netloc}{prefix.rstrip('/')}"


def _json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it wraps (urllib3 keeps the cause in .reason or in args, requests in args)."""
    chain: list[BaseException] = []
    pending: list[Any] = [exc]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseException) and all(item is not seen for seen in chain):
            chain.append(item)
            pending.extend([getattr(item, "reason", None), item.__cause__, item.__context__, *item.args])
    return chain


def _never_connected(exc: BaseException) -> bool:
    """True when the connection was never made (refused, DNS): the server cannot have seen the request."""
    return any(isinstance(item, urllib3.exceptions.NewConnectionError) for item in _exception_chain(exc))


def _connection_failure(exc: BaseException) -> str:
    text = " ".join(str(item) for item in _exception_chain(exc)).lower()
    if any(hint in text for hint in DNS_FAILURE_HINTS):
        return "the host name does not resolve (DNS)"
    if "refused" in text:
        return "the connection was refused"
    return "the connection failed"


""" HELPERS """


def scrub(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret`` (plain, and URL-encoded as a query or a path would carry it) and the value of any
    token or key query parameter replaced by <redacted>. Defence in depth: no message is built with the secret."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        for form in secret_forms(secret):
            text = text.replace(form, REDACTED)
    return SECRET_QUERY.sub(r"\g<1>" + REDACTED, text)


def secret_forms(secret: str) -> list[str]:
    """The secret as it can appear in text: plain, and URL-encoded as a query or a path would carry it."""
    forms = {secret, urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}
    forms.add(json.dumps(secret)[1:-1])  # as a JSON string holds it (quotes, backslashes and controls escaped)
    forms.add(json.dumps(secret)[1:-1].replace("/", "\\/"))  # and with "/" escaped, as some JSON writers do
    return sorted(forms, key=len, reverse=True)


def register_secret(secret: str | None) -> None:
    """Hand the secret (each of its forms) to the platform's log masking, ``add_sensitive_log_strs``, which masks it
    in the integration's log and, in debug mode, in the HTTP wire log. Called first thing in main(), before anything
    is logged; ``scrub`` stays the integrations' own masking of every message they build."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        for form in secret_forms(secret):
            add_sensitive_log_strs(form)


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and the loopback addresses (127.0.0.0/8, ::1): the only hosts plain http may reach."""
    name = (host or "").strip().strip("[]").rstrip(".").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_https(url: str, setting: str, example: str) -> None:
    """Refuse a plain-http ``url`` (the credential would cross the network readable by anyone on the way), unless its
    host is a loopback address, where nothing crosses a network (a local simulator or test server). ``setting`` is
    the parameter's "label (name)"; ``example`` an https URL to use instead."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{setting} must be an https:// URL, such as {example}, because over plain http the credential would cross "
            f"the network unencrypted (http is accepted only for a loopback host such as 127.0.0.1); got '{url}'."
        )


def path_number(value: Any, name: str) -> str:
    """A whole number (an int, not a bool, not negative) as it goes into a URL path; anything else raises ValueError
    before a request is built, so no text reaches a path."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"The {name} put into the request path must be a whole number of at least 0; got {value!r}.")
    return str(value)


def param_title(name: str, labels: Mapping[str, str]) -> str:
    """How an error names an instance parameter: the label the instance form shows, then the parameter's name in
    brackets ("Maximum number of incidents per fetch (max_fetch)"). The admin finds the field by its label; the name
    is what an API call, a script or the parameter's key in a saved configuration uses. ``labels`` is the
    integration's table of yml ``display`` texts (``displaypassword`` for a credential)."""
    return f"{labels[name]} ({name})"


def subject_of(name: str, what: str = "argument", label: str | None = None) -> str:
    """The start of an error sentence: "The limit argument", or, given the parameter's label, "Label (name)"."""
    return f"{label} ({name})" if label else f"The {name} {what}"


def parse_int(
    value: Any,
    name: str,
    what: str = "argument",
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
    *,
    label: str | None = None,
) -> int | None:
    """A whole number from XSOAR text (or a number), within bounds; ``default`` when empty.

    Accepted: an int, a float with no fraction, text of ASCII digits with an optional sign. Anything else, or a
    number out of bounds, raises ValueError naming the setting or argument (``what``) and what it accepts. An
    instance parameter passes its ``label`` and is named as the form shows it (``subject_of``).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        number = int(value.strip())
    if number is None or (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        accepted = "a whole number"
        if minimum is not None and maximum is not None:
            accepted = f"a whole number from {minimum} to {maximum}"
        elif minimum is not None:
            accepted = f"a whole number of at least {minimum}"
        elif maximum is not None:
            accepted = f"a whole number of at most {maximum}"
        raise ValueError(f"{subject_of(name, what, label)} must be {accepted}; got '{value}'.")
    return number


def parse_flag(value: Any, name: str, what: str = "argument", *, label: str | None = None) -> bool:
    """True or false from XSOAR text (or a bool); False when empty. Anything argToBoolean does not read raises
    ValueError naming the setting or argument (``subject_of``) and what it accepts."""
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    try:
        return argToBoolean(value)
    except ValueError:
        raise ValueError(f"{subject_of(name, what, label)} must be true or false; got '{value}'.") from None


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from a time as ThreatMon sends it; None when missing or not a time.

    Accepted: ISO-8601 (with Z, an offset, or none = UTC; a date alone), the same with a trailing " UTC" or " GMT",
    the formats of ``TIME_FORMATS``, RFC 2822 dates, and epoch seconds or milliseconds as a number or as text of
    9 to 13 digits. Zero, negative and unrepresentable epochs are no time.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str) and value.strip():
        return _parse_time_text(value.strip())
    return None


@lru_cache(maxsize=8192)  # a feed answer repeats the same few times thousands of times
def _parse_time_text(text: str) -> datetime | None:
    if EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text))
    if text[-4:].upper() in UTC_SUFFIXES:
        text = text[:-4].rstrip() + "+00:00"
    moment = _time_from_formats(text)
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_from_formats(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for time_format in TIME_FORMATS:
        try:
            return datetime.strptime(text, time_format)  # a naive time is UTC: the caller sets it
        except ValueError:
            continue
    return _http_date(text)


def _http_date(text: str | None) -> datetime | None:
    """An RFC 2822 date (as in HTTP headers), or None."""
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if seconds <= 0:
        return None
    if seconds > EPOCH_MS_ABOVE:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds a Retry-After value asks for: delay-seconds (a fraction too) or an HTTP date; None for anything else.
    Never negative; the caller caps it."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    when = _http_date(text)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_epoch)
