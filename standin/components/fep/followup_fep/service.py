"""接口服务 HTTP The interface service's HTTP API: /health, /version, /api/exchange/stats."""

import logging

import pymysql
from followup_common.httpclient import UpstreamError
from followup_common.httpd import Router


def map_errors(exc):
    if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        logging.getLogger("followup_fep").error("MySQL error: %s", exc)
        return 503, {"error": "interface_data database unavailable"}
    return None


class FepService:
    def __init__(self, pool, app, exchange, version, release_date, log=None):
        self.pool = pool
        self.app = app
        self.exchange = exchange
        self.version = version
        self.release_date = release_date
        self.log = log or logging.getLogger("followup_fep")

    def router(self):
        router = Router(self.log, map_errors)
        router.add("GET", "/health", self.health)
        router.add("GET", "/version", self.get_version)
        router.add("GET", "/api/exchange/stats", self.stats)
        return router

    def backlog(self):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM his_patient_inbound WHERE status = 'new'")
            return int(cur.fetchone()["n"])

    def health(self, _request):
        checks, reasons, backlog = {}, {}, None
        try:
            backlog = self.backlog()
            checks["interface_data"] = "UP"
        except Exception as exc:
            checks["interface_data"] = "DOWN"
            reasons["interface_data"] = f"{exc.__class__.__name__}: {str(exc)[:120]}"
        try:
            status, body = self.app.health()
            checks["app"] = "UP" if status == 200 else "DOWN"
            if status != 200:
                reasons["app"] = f"app /health answered {status} {body.get('status', '')}".strip()
        except UpstreamError as exc:
            checks["app"] = "DOWN"
            reasons["app"] = str(exc)[:160]
        up = all(state == "UP" for state in checks.values())
        body = {"status": "UP" if up else "DOWN", "version": self.version, "checks": checks, "backlog": backlog}
        if reasons:
            body["reasons"] = reasons
        return (200 if up else 503), body

    def get_version(self, _request):
        return {"version": self.version, "release_date": self.release_date}

    def stats(self, _request):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT status, COUNT(*) AS n FROM his_patient_inbound GROUP BY status")
            inbound = {row["status"]: int(row["n"]) for row in cur.fetchall()}
            cur.execute("SELECT COUNT(*) AS n, SUM(his_read = 0) AS unread FROM followup_result_outbound")
            row = cur.fetchone()
            cur.execute("SELECT cursor_time, cursor_id FROM exchange_cursor WHERE name = 'followup_result'")
            cursor = cur.fetchone()
        return {
            "inbound": inbound,
            "backlog": inbound.get("new", 0),
            "outbound": {"total": int(row["n"] or 0), "unread": int(row["unread"] or 0)},
            "outbound_cursor": cursor,
            "worker": self.exchange.snapshot(),
        }
