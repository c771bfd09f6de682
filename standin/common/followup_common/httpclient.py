"""调用其他组件的 HTTP 接口 JSON over HTTP to the other components (urllib only)."""

import json
import urllib.error
import urllib.request


class UpstreamError(Exception):
    """The other component could not be reached or did not answer JSON."""


def request_json(method, url, payload=None, timeout=10.0):
    """Send ``payload`` as JSON; return (status, decoded JSON body). Raises UpstreamError when unreachable."""
    data = None
    headers = {"Accept": "application/json"}
    if payload is not None:
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - configured URL
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured http(s) URL
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamError(f"{method} {url}: {reason}") from None
    try:
        decoded = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError):
        raise UpstreamError(f"{method} {url}: answer {status} is not JSON") from None
    return status, decoded
