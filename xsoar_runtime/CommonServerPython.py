"""Stand-in for XSOAR's ``CommonServerPython`` (integrations do ``from CommonServerPython import *``).

Only the documented API this repository's pack uses, with the official names, signatures, message
shapes and behaviour (see xsoar_runtime/README.md for the list and the known differences). Written
here from the xsoar.pan.dev reference and from observing the official module; tests/runtime/ pins
every behaviour the pack relies on and runs against both this file and the official one.

Like the official module, it has no ``__all__``: a star import brings every public name, including
the modules imported below that these functions need (json, os, requests, datetime, ...). It imports
nothing the official module does not re-export, so code that runs here does not lack a name there;
the official module re-exports many more (re, time, typing names, ...): import those yourself.
"""

# Public names are re-exported through the star import, like the official module's; helpers the
# official module does not export are imported under a private name.
import base64
import contextlib as _contextlib
import json
import os
import sys
import traceback
import urllib
import warnings
import xml.etree.ElementTree as ET
from datetime import UTC as _UTC
from datetime import datetime

import dateparser
import demistomock as demisto
import requests
from requests.adapters import HTTPAdapter
from urllib3 import disable_warnings
from urllib3.util import Retry

disable_warnings()  # like the official module: no InsecureRequestWarning when "Trust any certificate" is set


def _warning_to_log(message, category, filename, lineno, file=None, line=None):
    """Like the official module: Python warnings go to the server log (INFO), not to stderr."""
    with _contextlib.suppress(Exception):
        demisto.info("python warning: " + warnings.formatwarning(message, category, filename, lineno, line))


warnings.showwarning = _warning_to_log

STRING_TYPES = (str, bytes)
MAX_ERROR_MESSAGE_LENGTH = 50000
MASK = "<XX_REPLACED>"
MARKDOWN_CHARS = r"\`*_{}[]()#+-!|"

# --------------------------------------------------------------------------------------- constants

entryTypes = {
    "note": 1,
    "downloadAgent": 2,
    "file": 3,
    "error": 4,
    "pinned": 5,
    "userManagement": 6,
    "image": 7,
    "playgroundError": 8,
    "entryInfoFile": 9,
    "warning": 11,
    "map": 15,
    "debug": 16,
    "widget": 17,
}
formats = {
    "html": "html",
    "table": "table",
    "json": "json",
    "text": "text",
    "dbotResponse": "dbotCommandResponse",
    "markdown": "markdown",
}


class EntryType:
    NOTE = 1
    DOWNLOAD_AGENT = 2
    FILE = 3
    ERROR = 4
    PINNED = 5
    USER_MANAGEMENT = 6
    IMAGE = 7
    PLAYGROUND_ERROR = 8
    ENTRY_INFO_FILE = 9
    VIDEO_FILE = 10
    WARNING = 11
    STATIC_VIDEO_FILE = 12
    MAP_ENTRY_TYPE = 15
    WIDGET = 17
    EXECUTION_METRICS = 19


class EntryFormat:
    HTML = "html"
    TABLE = "table"
    JSON = "json"
    TEXT = "text"
    DBOT_RESPONSE = "dbotCommandResponse"
    MARKDOWN = "markdown"

    @classmethod
    def is_valid_type(cls, _type):
        return _type in (cls.HTML, cls.TABLE, cls.JSON, cls.TEXT, cls.MARKDOWN, cls.DBOT_RESPONSE)


class IncidentStatus:
    PENDING = 0
    ACTIVE = 1
    DONE = 2
    ARCHIVE = 3


class IncidentSeverity:
    UNKNOWN = 0
    INFO = 0.5
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class FeedIndicatorType:
    """Indicator types a feed creates (the values are the XSOAR indicator type names)."""

    Account = "Account"
    CVE = "CVE"
    Domain = "Domain"
    DomainGlob = "DomainGlob"
    Email = "Email"
    File = "File"
    FQDN = "Domain"
    Host = "Host"
    IP = "IP"
    CIDR = "CIDR"
    IPv6 = "IPv6"
    IPv6CIDR = "IPv6CIDR"
    Registry = "Registry Key"
    SSDeep = "ssdeep"
    URL = "URL"
    AS = "ASN"
    MUTEX = "Mutex"
    Malware = "Malware"
    Identity = "Identity"
    Location = "Location"
    Software = "Software"
    X509 = "X509 Certificate"


# --------------------------------------------------------------------------------------- helpers


def is_debug_mode():
    return bool(getattr(demisto, "is_debug", False))


def get_integration_name():
    return demisto.callingContext.get("context", {}).get("IntegrationBrand", "")


def get_script_name():
    return demisto.callingContext.get("context", {}).get("ScriptName", "")


def urljoin(url, suffix=""):
    """Joins with exactly one '/' between the base and the suffix."""
    if url[-1:] != "/":
        url += "/"
    return url + (suffix[1:] if suffix.startswith("/") else suffix)


def add_http_prefix_if_missing(address=""):
    if not address:
        return ""
    if address.startswith(("http://", "https://", "socks5://", "socks5h://", "socks4://", "socks4a://")):
        return address
    return "http://" + address


_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def skip_proxy():
    """Removes the proxy environment variables, so requests goes direct."""
    for name in _PROXY_VARS:
        os.environ.pop(name, None)


def ensure_proxy_has_http_prefix():
    for name in _PROXY_VARS:
        if os.environ.get(name):
            os.environ[name] = add_http_prefix_if_missing(os.environ[name])


def skip_cert_verification():
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(name, None)


def _b64(text):
    if not text:
        return ""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(data).decode("utf-8")


# --------------------------------------------------------------------------------------- arguments


def argToList(arg, separator=",", transform=None):
    """A list from a list, a JSON array text, a separated text or a single value ([] for empty)."""
    if not arg:
        return []
    if isinstance(arg, list):
        result = arg
    elif isinstance(arg, STRING_TYPES):
        result = None
        if arg[0] == "[" and arg[-1] == "]":
            try:
                result = json.loads(arg)
            except Exception:
                demisto.debug(f"Failed to load {arg} as JSON, trying to split")
        if result is None:
            result = [s.strip() for s in arg.split(separator)]
    else:
        result = [arg]
    return [transform(s) for s in result] if transform else result


def argToBoolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in ("true", "yes"):
            return True
        if value.lower() in ("false", "no"):
            return False
        raise ValueError("Argument does not contain a valid boolean-like value")
    raise ValueError("Argument is neither a string nor a boolean")


def _missing(arg_name):
    return ValueError(f'Missing "{arg_name}"' if arg_name else "Missing required argument")


def arg_to_number(arg, arg_name=None, required=False):
    """int from an int or a numeric text (a decimal text is truncated); None when empty and not required."""
    if arg is None or arg == "":
        if required is True:
            raise _missing(arg_name)
        return None
    if isinstance(arg, str):
        if arg.isdigit():
            return int(arg)
        with _contextlib.suppress(Exception):
            return int(float(arg))
    elif isinstance(arg, int):
        return arg
    raise ValueError(f'Invalid number: "{arg_name}"="{arg}"' if arg_name else f'"{arg}" is not a valid number')


def arg_to_datetime(arg, arg_name=None, is_utc=True, required=False, settings=None):
    """datetime from epoch seconds/milliseconds (number or digits) or any text dateparser reads ("7 days")."""
    if arg is None:
        if required is True:
            raise _missing(arg_name)
        return None
    if (isinstance(arg, str) and arg.isdigit()) or isinstance(arg, int | float):
        seconds = float(arg)
        if seconds > 2000000000.0:  # milliseconds
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=_UTC) if is_utc else datetime.fromtimestamp(seconds)
    if isinstance(arg, str):
        date = dateparser.parse(arg, settings=settings or {"TIMEZONE": "UTC"})
        if date is not None:
            return date
    raise ValueError(f'Invalid date: "{arg_name}"="{arg}"' if arg_name else f'"{arg}" is not a valid date')


# --------------------------------------------------------------------------------------- markdown


def stringEscapeMD(st, minimal_escaping=False, escape_multiline=False):
    if escape_multiline:
        st = st.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")
    if minimal_escaping:
        return st.replace("|", "\\|").replace("`", "\\`")
    return "".join("\\" + c if c in MARKDOWN_CHARS else c for c in st)


def flattenCell(data, is_pretty=True):
    if isinstance(data, STRING_TYPES):
        return data
    if isinstance(data, list):
        return ",\n".join(d.decode("utf-8") if isinstance(d, bytes) else str(d) for d in data)
    return json.dumps(data, indent=4 if is_pretty else None, ensure_ascii=False, default=str)


class JsonTransformer:
    """How tableToMarkdown writes a nested value in a cell: flattened ('key: value' lines), by a function,
    or as an indented tree of the leaves (optionally only under some keys)."""

    def __init__(self, flatten=False, keys=None, is_nested=False, func=None):
        self.keys = set(keys or [])
        self.is_nested = is_nested
        self.func = func
        self.flatten = flatten

    def json_to_str(self, json_input, is_pretty=True):
        if self.func:
            return self.func(json_input)
        if isinstance(json_input, STRING_TYPES):
            return json_input
        if self.flatten:
            if isinstance(json_input, dict):
                return "\n".join(f"{k}: {flattenCell(v, is_pretty)}" for k, v in json_input.items())
            return flattenCell(json_input, is_pretty)
        lines, previous = [], []
        for path, key, value in self.json_to_path_generator(json_input):
            tabs = "\t" * len(path)
            heading = ""
            if path != previous:
                shared = len(os.path.commonprefix((previous, path)))  # noqa: RUF071 - lists, element-wise
                for depth, step in enumerate(path[shared:], start=shared):
                    heading += "\t" * depth + ("**-**" if isinstance(step, int) else f"**{step}**:\n")
                previous = path
                if path and isinstance(path[-1], int):
                    tabs = "\t"
            lines.append(f"{heading}{tabs}***{key}***: {flattenCell(value, is_pretty)}")
        return "\n".join(lines)

    def json_to_path_generator(self, json_input, path=None):
        path = path or []
        selected = not self.keys or any(step in self.keys for step in path)
        if isinstance(json_input, dict):
            for key, value in json_input.items():
                if selected or key in self.keys:
                    if isinstance(value, dict | list):
                        yield from self.json_to_path_generator(value, [*path, key])
                    else:
                        yield path, key, value
                elif self.is_nested:
                    yield from self.json_to_path_generator(value, [*path, key])
        if isinstance(json_input, list):
            if not json_input or not isinstance(json_input[0], dict | list):
                yield path, "values", ", ".join(json_input)
            else:
                for index, item in enumerate(json_input):
                    yield from self.json_to_path_generator(item, [*path, index])


def formatCell(data, is_pretty=True, json_transform=None):
    return (json_transform or JsonTransformer(flatten=True)).json_to_str(data, is_pretty)


def create_clickable_url(url, text=None):
    if not url:
        return None
    if isinstance(url, list):
        if isinstance(text, list):
            return [f"[{t}]({u})" for t, u in zip(text, url, strict=True)]
        return [f"[{u}]({u})" for u in url]
    return f"[{text or url}]({url})"


def url_to_clickable_markdown(data, url_keys):
    if isinstance(data, list):
        return [url_to_clickable_markdown(item, url_keys) for item in data]
    if isinstance(data, dict):
        return {k: create_clickable_url(v) if k in url_keys else url_to_clickable_markdown(v, url_keys) for k, v in data.items()}
    return data


def tableToMarkdown(
    name,
    t,
    headers=None,
    headerTransform=None,
    removeNull=False,
    metadata=None,
    url_keys=None,
    date_fields=None,
    json_transform_mapping=None,
    is_auto_json_transform=False,
    sort_headers=True,
):
    """A markdown table: '### name', optional metadata line, a header row, a '---' row, one row per item.

    Without headers the columns are the first row's keys (sorted unless sort_headers=False); None cells are
    empty, lists are joined with ',<br>', dicts written as 'key: value' lines, '|' and '`' escaped,
    newlines become '<br>'. An empty table is '**No entries.**'.
    """
    if url_keys:
        t = url_to_clickable_markdown(t, url_keys)
    result = f"### {name}\n" if name else ""
    if metadata:
        result += metadata + "\n"
    if not t:
        return result + "**No entries.**\n"
    if not headers and isinstance(t, dict) and len(t) == 1:
        headers = list(t)
        t = next(iter(t.values()))
    if not isinstance(t, list):
        t = [t]
    if headers and isinstance(headers, STRING_TYPES):
        headers = [headers]
    if not isinstance(t[0], dict):
        if not headers:
            raise Exception("Missing headers param for tableToMarkdown. Example: headers=['Some Header']")
        t = [{headers[0]: item} for item in t]
    if not headers:
        headers = list(t[0])
        if sort_headers:
            headers.sort()
    if removeNull:
        headers = [h for h in headers if not all(row.get(h) in ("", None, [], {}) for row in t)]
    if not headers:
        return result + "**No entries.**\n"
    if not json_transform_mapping:
        json_transform_mapping = {h: JsonTransformer(flatten=not is_auto_json_transform) for h in headers}
    if headerTransform is None:

        def headerTransform(s):
            return stringEscapeMD(s, True, True)

    result += "|" + "|".join(headerTransform(h) for h in headers) + "|\n"
    result += "|" + "|".join("---" for _ in headers) + "|\n"
    for row in t:
        row = dict(row)
        for field in date_fields or ():
            with _contextlib.suppress(Exception):  # a cell that is no timestamp stays as it is
                row[field] = datetime.fromtimestamp(int(row[field]) / 1000).strftime("%Y-%m-%d %H:%M:%S")
        cells = [
            stringEscapeMD(formatCell(row[h], False, json_transform_mapping.get(h)) if row.get(h) is not None else "", True, True)
            for h in headers
        ]
        result += "| " + " | ".join(cells) + " |\n"
    return result


# --------------------------------------------------------------------------------------- errors


class DemistoException(Exception):
    """Raised by BaseClient and integrations; str() is the message, .res the HTTP response when any."""

    def __init__(self, message, exception=None, res=None, error_type=None, *args):
        self.res = res
        self.message = message
        self.exception = exception
        self.error_type = error_type
        super().__init__(message, exception, error_type, *args)

    def __str__(self):
        return str(self.message)


# --------------------------------------------------------------------------------------- HTTP


class BaseClient:
    """HTTP client base for integrations: base URL, TLS verification, proxy, default headers/auth/timeout,
    one requests.Session reused by every call, and _http_request with XSOAR's error messages."""

    REQUESTS_TIMEOUT = 60

    def __init__(self, base_url, verify=True, proxy=False, ok_codes=(), headers=None, auth=None, timeout=REQUESTS_TIMEOUT):
        self._base_url = base_url
        self._verify = verify
        self._ok_codes = ok_codes
        self._headers = headers
        self._auth = auth
        self._session = requests.Session()
        # Stand-in difference: the official client mounts an adapter with a wider TLS cipher list when
        # verify is False; requests' default adapter is used here (the tests speak plain HTTP).
        if proxy:
            ensure_proxy_has_http_prefix()
        else:
            skip_proxy()
        if not verify:
            skip_cert_verification()
        name = get_integration_name() or get_script_name()
        configured = os.getenv("REQUESTS_TIMEOUT." + name, "") or os.getenv("REQUESTS_TIMEOUT", "")
        self.timeout = float(configured or timeout)  # a (connect, read) tuple belongs in _http_request(timeout=...)

    def __del__(self):
        with _contextlib.suppress(Exception):  # nothing to do about a session that cannot close at exit
            self._session.close()

    def _implement_retry(
        self, retries=0, status_list_to_retry=None, backoff_factor=5, raise_on_redirect=False, raise_on_status=False
    ):
        """urllib3 retries for the session. Like the official client, only https:// URLs get them."""
        retry = Retry(
            total=retries,
            read=retries,
            connect=retries,
            status=retries,
            backoff_factor=backoff_factor,
            status_forcelist=status_list_to_retry,
            raise_on_status=raise_on_status,
            raise_on_redirect=raise_on_redirect,
            allowed_methods=frozenset(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        )
        self._session.mount("https://", HTTPAdapter(max_retries=retry))

    def _http_request(
        self,
        method,
        url_suffix="",
        full_url=None,
        headers=None,
        auth=None,
        json_data=None,
        params=None,
        data=None,
        files=None,
        timeout=None,
        resp_type="json",
        ok_codes=None,
        return_empty_response=False,
        retries=0,
        status_list_to_retry=None,
        backoff_factor=5,
        raise_on_redirect=False,
        raise_on_status=False,
        error_handler=None,
        empty_valid_codes=None,
        params_parser=None,
        with_metrics=False,
        **kwargs,
    ):
        """One HTTP call. A status outside ok_codes (or not 2xx/3xx when none are set) goes to error_handler
        or raises DemistoException('Error in API call [<code>] - <reason>\\n<body>', res=response).
        resp_type: 'json' (default), 'text', 'content', 'xml' or 'response'. A ReadTimeout is not wrapped."""
        try:
            address = full_url or urljoin(self._base_url, url_suffix)
            if retries:
                self._implement_retry(retries, status_list_to_retry, backoff_factor, raise_on_redirect, raise_on_status)
            if params_parser:
                params = urllib.parse.urlencode(params, quote_via=params_parser)
            res = self._session.request(
                method,
                address,
                verify=self._verify,
                params=params,
                data=data,
                json=json_data,
                files=files,
                headers=headers or self._headers,
                auth=auth or self._auth,
                timeout=timeout or self.timeout,
                **kwargs,
            )
            if not self._is_status_code_valid(res, ok_codes):
                (error_handler or self.client_error_handler)(res)
            if return_empty_response and res.status_code in (empty_valid_codes or [204]):
                return res
            return self.cast_response(res, resp_type)
        except requests.exceptions.ConnectTimeout as exception:
            raise DemistoException(
                "Connection Timeout Error - potential reasons might be that the Server URL parameter is incorrect or "
                "that the Server is not accessible from your host.",
                exception,
            ) from exception
        except requests.exceptions.SSLError as exception:
            if not self._verify:
                raise
            raise DemistoException(
                "SSL Certificate Verification Failed - try selecting 'Trust any certificate' checkbox in the integration "
                "configuration.",
                exception,
            ) from exception
        except requests.exceptions.ProxyError as exception:
            raise DemistoException(
                "Proxy Error - if the 'Use system proxy' checkbox in the integration configuration is selected, try "
                "clearing the checkbox.",
                exception,
            ) from exception
        except requests.exceptions.ConnectionError as exception:
            kind = type(exception)
            message = (
                "Verify that the server URL parameter is correct and that you have access to the server from your host."
                f"\nError Type: <{kind.__module__}.{kind.__qualname__}>"
            )
            if exception.errno and exception.strerror:
                message += f"\nError Number: [{exception.errno}]\nMessage: {exception.strerror}\n"
            else:
                message += f"\n{exception}"
            raise DemistoException(message, exception) from exception
        except requests.exceptions.RetryError as exception:
            try:
                reason = f"Reason: {exception.args[0].reason.args[0]}"
            except Exception:
                reason = ""
            raise DemistoException(
                f"Max Retries Error- Request attempts with {retries} retries failed. \n{reason}", exception
            ) from exception

    def cast_response(self, res, resp_type, raise_on_error=True):
        resp_type = resp_type.lower()
        try:
            if resp_type == "json":
                return res.json()
            if resp_type == "text":
                return res.text
            if resp_type == "content":
                return res.content
            if resp_type == "xml":
                ET.fromstring(res.text)  # noqa: S314 - validates only, like the official client
            return res
        except ValueError as exception:
            if raise_on_error:
                raise DemistoException(
                    f"Failed to parse {resp_type} object from response: {res.content}", exception, res
                ) from exception
            return None

    def _is_status_code_valid(self, response, ok_codes=None):
        """In ok_codes (the call's, else the client's) when any are set, else requests' Response.ok (< 400)."""
        codes = ok_codes or self._ok_codes
        return response.status_code in codes if codes else response.ok

    def client_error_handler(self, res):
        message = f"Error in API call [{res.status_code}] - {res.reason}"
        try:
            message += "\n" + json.dumps(res.json())
        except ValueError:
            message += "\n" + res.text
        raise DemistoException(message, res=res)


# --------------------------------------------------------------------------------------- results


class CommandResults:
    """A command's war-room entry: context outputs under a prefix (merged by key field), readable markdown,
    and the raw API answer. to_context() builds the entry dict the server reads."""

    def __init__(
        self,
        outputs_prefix=None,
        outputs_key_field=None,
        outputs=None,
        indicators=None,
        readable_output=None,
        raw_response=None,
        indicators_timeline=None,
        indicator=None,
        ignore_auto_extract=False,
        mark_as_note=False,
        tags=None,
        scheduled_command=None,
        relationships=None,
        entry_type=None,
        content_format=None,
        execution_metrics=None,
        replace_existing=False,
    ):
        if outputs is not None:
            if not isinstance(outputs, dict) and not outputs_prefix:
                raise ValueError("outputs_prefix is missing")
            if outputs_prefix == ".":
                raise ValueError("outputs_prefix cannot be a period.")
        if indicators and indicator:
            raise ValueError("indicators is DEPRECATED, use only indicator")
        if not outputs_key_field:
            self._outputs_key_field = None
        elif isinstance(outputs_key_field, STRING_TYPES):
            self._outputs_key_field = [outputs_key_field]
        elif isinstance(outputs_key_field, list):
            self._outputs_key_field = outputs_key_field
        else:
            raise TypeError("outputs_key_field must be of type str or list")
        if content_format is not None and not EntryFormat.is_valid_type(content_format):
            raise TypeError(f"content_format {content_format} is invalid, see CommonServerPython.EntryFormat")
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field = outputs_key_field
        self.outputs = outputs
        self.raw_response = outputs if raw_response is None else raw_response
        self.readable_output = readable_output
        self.indicators = indicators
        self.indicator = indicator
        self.indicators_timeline = indicators_timeline
        self.ignore_auto_extract = ignore_auto_extract
        self.mark_as_note = mark_as_note
        self.tags = tags
        self.scheduled_command = scheduled_command
        self.relationships = relationships
        self.entry_type = EntryType.NOTE if entry_type is None else entry_type
        self.content_format = content_format
        self.execution_metrics = execution_metrics
        self.replace_existing = replace_existing

    def to_context(self):
        outputs = {}
        for indicator in [self.indicator] if self.indicator else self.indicators or []:
            for key, value in indicator.to_context().items():
                outputs.setdefault(key, []).append(value)
        human_readable = self.readable_output or None
        if self.outputs is not None and self.outputs != []:
            if not self.readable_output:
                human_readable = (
                    tableToMarkdown("Results", self.outputs) if isinstance(self.outputs, dict | list) else self.outputs
                )
            if self.outputs_prefix and self.replace_existing:
                parent, _, leaf = self.outputs_prefix.rpartition(".")
                if not parent:
                    raise DemistoException("outputs_prefix must be a nested path to replace an existing key.")
                outputs[parent + "(true)"] = {leaf: self.outputs}
            elif self.outputs_prefix and self._outputs_key_field:
                match = " && ".join(f"val.{key} && val.{key} == obj.{key}" for key in self._outputs_key_field)
                outputs[f"{self.outputs_prefix}({match})"] = self.outputs
            elif self.outputs_prefix:
                outputs[str(self.outputs_prefix)] = self.outputs
            else:
                outputs.update(self.outputs)
        raw_response = self.raw_response
        content_format = self.content_format
        if content_format is None:
            content_format = EntryFormat.TEXT if isinstance(raw_response, (*STRING_TYPES, int)) else EntryFormat.JSON
        if self.execution_metrics:
            self.entry_type = EntryType.EXECUTION_METRICS
            raw_response = "Metrics reported successfully."
            content_format = EntryFormat.TEXT
        entry = {
            "Type": self.entry_type,
            "ContentsFormat": content_format,
            "Contents": raw_response,
            "HumanReadable": human_readable,
            "EntryContext": outputs,
            "IndicatorTimeline": self.indicators_timeline.indicators_timeline if self.indicators_timeline else [],
            "IgnoreAutoExtract": bool(self.ignore_auto_extract),
            "Note": bool(self.mark_as_note),
            "Relationships": [r.to_entry() for r in self.relationships or [] if r.to_entry()],
        }
        if self.tags:
            entry["Tags"] = self.tags
        if self.scheduled_command:
            entry.update(self.scheduled_command.to_results())
        if self.execution_metrics:
            entry["APIExecutionMetrics"] = self.execution_metrics
        return entry


def is_integration_command_execution():
    context = demisto.callingContext
    try:
        return context["context"]["ExecutedCommands"][0]["moduleBrand"] != "Scripts"
    except (KeyError, IndexError, TypeError):
        try:
            return context["context"]["ScriptName"] == ""
        except (KeyError, IndexError, TypeError):
            return True


def _is_metrics_for_script(entry, is_integration):
    if not is_integration and isinstance(entry, dict) and entry.get("Type") == EntryType.EXECUTION_METRICS:
        demisto.debug("returning results with Type=EntryType.EXECUTION_METRICS isn't fully supported for scripts.")
        return True
    return False


def is_error(execute_command_result):
    """Whether an entry, or any entry of a list of them (what demisto.executeCommand answers), is an error entry."""
    if isinstance(execute_command_result, list):
        return any(is_error(entry) for entry in execute_command_result)
    return isinstance(execute_command_result, dict) and execute_command_result.get("Type") == EntryType.ERROR


isError = is_error


def get_error(execute_command_result):
    """The Contents of the error entries of an executeCommand answer, one per line (check is_error first)."""
    if not is_error(execute_command_result):
        raise ValueError("execute_command_result has no error entry. before using get_error use is_error")
    entries = execute_command_result if isinstance(execute_command_result, list) else [execute_command_result]
    return "\n".join(str(entry["Contents"]) for entry in entries if is_error(entry))


def return_results(results):
    """Sends results to the war room: CommandResults, a list of results, mirroring responses, dicts or text."""
    is_integration = is_integration_command_execution()
    if results is None:
        demisto.results(None)
    elif results and isinstance(results, list):
        plain = []
        for result in results:
            if isinstance(result, dict | str):
                if not _is_metrics_for_script(result, is_integration):
                    plain.append(result)
            else:
                return_results(result)
        if plain:
            demisto.results(plain)
    elif isinstance(results, CommandResults):
        entry = results.to_context()
        if not _is_metrics_for_script(entry, is_integration):
            demisto.results(entry)
    elif isinstance(results, GetMappingFieldsResponse):
        demisto.results(results.extract_mapping())
    elif isinstance(results, GetRemoteDataResponse):
        demisto.results(results.extract_for_local())
    elif hasattr(results, "to_entry"):
        entry = results.to_entry()
        if not _is_metrics_for_script(entry, is_integration):
            demisto.results(entry)
    elif not _is_metrics_for_script(results, is_integration):
        demisto.results(results)


_SENSITIVE_PARAM_WORDS = ("key", "private", "password", "secret", "token", "credentials", "service_account")


def _secrets_in(params):
    """Values of sensitive-looking parameters (and their base64 / URL-quoted forms) to mask in logs."""
    found = []
    for key, value in params.items():
        if isinstance(value, dict):
            found += _secrets_in(value)
            if value.get("identifier") and value.get("password"):
                found.append(_b64(f"{value['identifier']}:{value['password']}"))
        elif isinstance(value, str) and value and any(word in key.lower() for word in _SENSITIVE_PARAM_WORDS):
            found += [value, _b64(value), urllib.parse.quote_plus(value), json.dumps(value)[1:-1]]
    return found


# Like the server's logger, the secret values are read once, when the module is imported: on XSOAR that
# is when the instance's parameters are already known; in unit tests (params() patched later) nothing is masked.
try:
    _LOG_SECRETS = sorted(set(_secrets_in(demisto.params() or {})), key=len, reverse=True)
except Exception:
    _LOG_SECRETS = []


def add_sensitive_log_strs(sensitive_str):
    """Masks the string, and its URL-quoted and JSON-escaped forms, from now on in what return_error writes."""
    if sensitive_str:
        text = str(sensitive_str)
        _LOG_SECRETS.extend(form for form in (text, urllib.parse.quote_plus(text), json.dumps(text)[1:-1]) if form)
        _LOG_SECRETS.sort(key=len, reverse=True)


def _mask(text):
    for secret in _LOG_SECRETS:
        text = text.replace(secret, MASK)
    return text


def return_error(message, error="", outputs=None):
    """Reports a failure. For fetch-incidents, fetch-indicators, fetch-credentials and long-running-execution
    it raises Exception(message) for the server to handle; otherwise it writes an error entry and exits (0).

    Like the server's logger, the values of the instance's secret parameters known when this module was
    imported are masked in the message (see _LOG_SECRETS).
    """
    try:
        command = demisto.command()
    except Exception:
        command = None
    message = _mask(str(message))
    log_lines = [message]
    if error:
        log_lines.append(_mask(str(error)))
    if any(sys.exc_info()):
        trace = _mask(traceback.format_exc())
        log_lines.append(trace)
        if is_debug_mode():
            message = f"{message}\n\n{trace}"
    demisto.info("Full Integration Log:\n" + "\n".join(log_lines))
    if command == "get-modified-remote-data" and (
        (error and not isinstance(error, NotImplementedError)) or sys.exc_info()[0] is not NotImplementedError
    ):
        message = "skip update. error: " + message
    if command in ("fetch-incidents", "fetch-credentials", "long-running-execution", "fetch-indicators"):
        raise Exception(message)
    if len(message) > MAX_ERROR_MESSAGE_LENGTH:
        half = MAX_ERROR_MESSAGE_LENGTH // 2
        message = message[:half] + "...This error body was truncated..." + message[-half:]
    demisto.results(
        {"Type": entryTypes["error"], "ContentsFormat": formats["text"], "Contents": message, "EntryContext": outputs}
    )
    sys.exit(0)


# --------------------------------------------------------------------------------------- mirroring


class UpdateRemoteSystemArgs:
    """update-remote-system arguments: data (the incident's fields), entries, incident_changed,
    remote_incident_id, inc_status (the XSOAR incident status) and delta (the changed fields)."""

    def __init__(self, args):
        self.data = args.get("data")
        self.entries = args.get("entries")
        self.incident_changed = args.get("incidentChanged")
        self.remote_incident_id = args.get("remoteId")
        self.inc_status = args.get("status")
        self.delta = args.get("delta")


class GetRemoteDataArgs:
    """get-remote-data arguments: remote_incident_id (``id``) and last_update (``lastUpdate``), both required."""

    def __init__(self, args):
        self.remote_incident_id = args["id"]
        self.last_update = args["lastUpdate"]


class GetModifiedRemoteDataArgs:
    """get-modified-remote-data arguments: last_update (``lastUpdate``, required), when the server last asked."""

    def __init__(self, args):
        self.last_update = args["lastUpdate"]


class GetRemoteDataResponse:
    """The answer of get-remote-data: the remote object (mapped onto the incident by the incoming mapper) and
    war-room entries (a close entry closes the incident)."""

    def __init__(self, mirrored_object, entries):
        self.mirrored_object = mirrored_object
        self.entries = entries

    def extract_for_local(self):
        """[mirrored object, *entries]; None when there is no mirrored object (nothing to update)."""
        if not self.mirrored_object:
            return None
        return [self.mirrored_object, *self.entries]


class GetModifiedRemoteDataResponse:
    """The answer of get-modified-remote-data: the remote ids the server then asks get-remote-data about."""

    def __init__(self, modified_incident_ids):
        self.modified_incident_ids = modified_incident_ids

    def to_entry(self):
        demisto.info(f"Modified incidents: {self.modified_incident_ids}")
        return {"Contents": self.modified_incident_ids, "Type": EntryType.NOTE, "ContentsFormat": EntryFormat.JSON}


class SchemeTypeMapping:
    """The fields of one incident type that get-mapping-fields offers for outgoing mapping."""

    def __init__(self, type_name="", fields=None):
        self.type_name = type_name
        self.fields = fields or {}

    def add_field(self, name, description=""):
        self.fields[name] = description

    def extract_mapping(self):
        return {self.type_name: self.fields}


class GetMappingFieldsResponse:
    def __init__(self, scheme_types_mapping=None):
        self.scheme_types_mappings = scheme_types_mapping or []

    def add_scheme_type(self, scheme_type_mapping):
        self.scheme_types_mappings.append(scheme_type_mapping)

    def extract_mapping(self):
        mapping = {}
        for scheme in self.scheme_types_mappings:
            mapping.update(scheme.extract_mapping())
        return mapping
