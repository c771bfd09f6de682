"""小型 JSON HTTP 服务 A small JSON HTTP server on http.server.ThreadingHTTPServer, with clean SIGTERM handling."""

import contextlib
import datetime
import decimal
import json
import re
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024


class HttpError(Exception):
    """An answer other than success: status, message and optionally the offending field."""

    def __init__(self, status, message, field=None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra

    def payload(self):
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class Request:
    def __init__(self, method, path, query=None, body=b"", headers=None):
        self.method = method
        self.path = path
        self.query = query or {}
        self.body = body
        self.headers = headers or {}

    def json(self):
        """The body as a JSON object (dict); 400 otherwise."""
        if not self.body:
            raise HttpError(400, "request body must be a JSON object")
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "request body must be a JSON object")
        return data


def _default(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(payload):
    return json.dumps(payload, ensure_ascii=False, default=_default, separators=(",", ":")).encode("utf-8")


class Router:
    """Maps (method, path pattern) to functions ``func(request, *groups) -> payload | (status, payload)``."""

    def __init__(self, log, error_hook=None):
        self.routes = []
        self.log = log
        self.error_hook = error_hook

    def add(self, method, pattern, func):
        self.routes.append((method, re.compile(pattern + r"\Z"), func))

    def dispatch(self, request):
        allowed = []
        for method, pattern, func in self.routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                result = func(request, *match.groups())
            except HttpError as exc:
                return exc.status, exc.payload()
            except Exception as exc:
                mapped = self.error_hook(exc) if self.error_hook else None
                if mapped:
                    return mapped
                self.log.exception("unhandled error in %s %s", request.method, request.path)
                return 500, {"error": "internal error"}
            if isinstance(result, tuple):
                return result
            return 200, result
        if allowed:
            return 405, {"error": f"method not allowed; use {', '.join(sorted(set(allowed)))}"}
        return 404, {"error": "not found"}


def make_handler(router, log, server_name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = server_name
        sys_version = ""

        def _handle(self):
            started = time.monotonic()
            path = self.path
            with contextlib.suppress(UnicodeError):  # the request line was decoded as latin-1: undo for raw UTF-8
                path = path.encode("latin-1").decode("utf-8")
            parts = urlsplit(path)
            query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                status, payload = 413, {"error": "request body too large or bad Content-Length"}
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, query, body, dict(self.headers.items()))
                status, payload = router.dispatch(request)
            data = dumps(payload)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            log.info(
                "%s %s %s %d %.1fms",
                self.client_address[0],
                self.command,
                parts.path,
                status,
                (time.monotonic() - started) * 1000,
            )

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, format, *args):
            log.debug("%s " + format, self.client_address[0], *args)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(router, address, log, server_name):
    cls = _Server6 if ":" in address[0] else _Server
    return cls(address, make_handler(router, log, server_name))


def serve(router, address, log, server_name, start=(), stop=()):
    """Serve until SIGTERM or SIGINT, then stop the server, run the ``stop`` callables and return 0.

    ``start`` callables run after the socket is bound (background workers), ``stop`` ones at shutdown.
    """
    try:
        server = make_server(router, address, log, server_name)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", address[0], address[1], exc)
        return 1
    stopping = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="http", daemon=True)
    thread.start()
    log.info("%s listening on %s:%s", server_name, address[0], address[1])
    for func in start:
        func()
    while not stopping.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    for func in stop:
        try:
            func()
        except Exception:
            log.exception("error while stopping")
    log.info("stopped")
    return 0
