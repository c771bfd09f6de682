"""接口交换 The exchange worker: HIS patients in (interface_data → app), follow-up results out (app → interface_data).

Inbound: rows of his_patient_inbound with status new are sent to the app (POST /api/patients; when the row names
a plan_code, also the plan's first follow-up task, POST /api/tasks, due discharge_date + the plan's interval).
A row becomes sent (with the app's patient and task ids) or error (with the reason). An unreachable app leaves
the row new; from 1.1.0 such a row is retried with a growing delay (retry_count, next_attempt_at), 5 times.
Outbound: completed tasks (GET /api/tasks?status=completed, paged by completed_at and id) are copied into
followup_result_outbound, one row per task (INSERT IGNORE on task_id), so copying again changes nothing.
"""

import datetime
import logging
import threading
import time
from urllib.parse import urlencode

from followup_common.httpclient import UpstreamError, request_json

CURSOR = "followup_result"
MAX_RETRIES = 5


class AppClient:
    def __init__(self, base_url, timeout=10.0):
        self.base_url = base_url
        self.timeout = timeout

    def _call(self, method, path, payload=None):
        return request_json(method, f"{self.base_url}{path}", payload, timeout=self.timeout)

    def health(self):
        status, body = self._call("GET", "/health")
        return status, body

    def create_patient(self, payload):
        return self._call("POST", "/api/patients", payload)

    def create_task(self, payload):
        return self._call("POST", "/api/tasks", payload)

    def plans(self):
        status, body = self._call("GET", "/api/plans?limit=1000")
        if status != 200:
            raise UpstreamError(f"GET /api/plans answered {status}")
        return body.get("items", [])

    def completed_tasks(self, after_time, after_id, limit):
        query = urlencode(
            {"status": "completed", "completed_after": after_time.isoformat(), "after_id": after_id, "limit": limit}
        )
        status, body = self._call("GET", f"/api/tasks?{query}")
        if status != 200:
            raise UpstreamError(f"GET /api/tasks answered {status}: {body.get('error', '')}")
        return body.get("items", [])


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


def patient_payload(row):
    """The app's POST /api/patients body for one inbound row."""
    payload = {"his_patient_id": row["his_patient_id"], "source": "his"}
    for key in ("name", "gender", "phone", "department", "diagnosis"):
        if row.get(key) not in (None, ""):
            payload[key] = row[key]
    for key in ("birth_date", "discharge_date"):
        if row.get(key) is not None:
            payload[key] = row[key].isoformat() if hasattr(row[key], "isoformat") else str(row[key])
    return payload


def first_due_date(discharge_date, plan, today):
    """The plan's first follow-up: discharge date + interval, not before today."""
    if discharge_date is None:
        return today
    if isinstance(discharge_date, str):
        discharge_date = datetime.date.fromisoformat(discharge_date)
    return max(today, discharge_date + datetime.timedelta(days=int(plan.get("interval_days") or 0)))


def retry_delay(retry_count):
    return min(300, 5 * 2**retry_count)


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "")) if isinstance(value, str) else value


class Exchange:
    def __init__(self, pool, app, version_info, log=None, batch=100, page=500, max_pages=20):
        self.pool = pool
        self.app = app
        self.version_info = tuple(version_info)
        self.retries = self.version_info >= (1, 1, 0)
        self.durations = self.version_info >= (1, 2, 0)
        self.log = log or logging.getLogger("followup_fep")
        self.batch = batch
        self.page = page
        self.max_pages = max_pages
        self.lock = threading.Lock()
        self.stats = {
            "cycles": 0,
            "last_cycle_at": None,
            "last_cycle_ms": None,
            "inbound_sent": 0,
            "inbound_error": 0,
            "inbound_retry": 0,
            "outbound_copied": 0,
            "last_error": None,
        }

    # -- one inbound row ------------------------------------------------------------------------------------
    def send_row(self, row, plans, today):
        """("sent", patient_id, task_id, note) | ("error", patient_id, None, reason) | ("retry", None, None, reason)."""
        try:
            status, body = self.app.create_patient(patient_payload(row))
        except UpstreamError as exc:
            return "retry", None, None, str(exc)
        if status == 201:
            patient_id = body["id"]
        elif status == 409 and body.get("field") == "his_patient_id" and body.get("id"):
            patient_id = body["id"]  # sent before (for example by a run that stopped before marking the row)
        elif 400 <= status < 500:
            return "error", None, None, f"app refused the patient ({status}): {body.get('error')}"
        else:
            return "retry", None, None, f"app answered {status}: {body.get('error')}"
        if not row.get("plan_code"):
            return "sent", patient_id, None, None
        plan = plans.get(row["plan_code"])
        if plan is None:
            return "error", patient_id, None, f"patient sent; unknown plan_code {row['plan_code']}"
        task = {
            "patient_id": patient_id,
            "plan_id": plan["id"],
            "due_date": first_due_date(row.get("discharge_date"), plan, today).isoformat(),
            "channel": plan.get("channel") or "voice",
        }
        try:
            status, body = self.app.create_task(task)
        except UpstreamError as exc:
            return "retry", None, None, f"patient sent; task not created: {exc}"
        if status != 201:
            return "error", patient_id, None, f"patient sent; app refused the task ({status}): {body.get('error')}"
        return "sent", patient_id, body["task"]["id"], None

    def inbound(self, today=None):
        today = today or utcnow().date()
        where = "status = 'new'"
        if self.retries:
            where += " AND (next_attempt_at IS NULL OR next_attempt_at <= UTC_TIMESTAMP())"
        columns = (
            "id, his_patient_id, name, gender, birth_date, phone, department, diagnosis, discharge_date, plan_code"
        )
        if self.retries:
            columns += ", retry_count"
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM his_patient_inbound WHERE {where} ORDER BY id LIMIT %s", (self.batch,))  # noqa: S608
            rows = cur.fetchall()
        if not rows:
            return {"sent": 0, "error": 0, "retry": 0}
        plans = {plan["plan_code"]: plan for plan in self.app.plans() if plan.get("plan_code")}
        counts = {"sent": 0, "error": 0, "retry": 0}
        for row in rows:
            outcome, patient_id, task_id, note = self.send_row(row, plans, today)
            counts[outcome] += 1
            self.mark(row, outcome, patient_id, task_id, note)
            if outcome == "retry" and not self.retries:
                break  # the app is unreachable: try the rest in the next cycle
        return counts

    def mark(self, row, outcome, patient_id, task_id, note):
        with self.pool.connection() as conn, conn.cursor() as cur:
            if outcome == "retry":
                if self.retries and row.get("retry_count", 0) + 1 >= MAX_RETRIES:
                    cur.execute(
                        "UPDATE his_patient_inbound SET status = 'error', error = %s, retry_count = retry_count + 1, "
                        "processed_at = UTC_TIMESTAMP() WHERE id = %s",
                        (f"gave up after {MAX_RETRIES} attempts: {note}"[:512], row["id"]),
                    )
                elif self.retries:
                    cur.execute(
                        "UPDATE his_patient_inbound SET error = %s, retry_count = retry_count + 1, "
                        "next_attempt_at = UTC_TIMESTAMP() + INTERVAL %s SECOND WHERE id = %s",
                        (note[:512], retry_delay(row.get("retry_count", 0)), row["id"]),
                    )
                else:
                    cur.execute("UPDATE his_patient_inbound SET error = %s WHERE id = %s", (note[:512], row["id"]))
            else:
                cur.execute(
                    "UPDATE his_patient_inbound SET status = %s, app_patient_id = %s, app_task_id = %s, error = %s, "
                    "processed_at = UTC_TIMESTAMP() WHERE id = %s",
                    (outcome, patient_id, task_id, note[:512] if note else None, row["id"]),
                )
            conn.commit()
        if outcome == "error":
            self.log.warning("inbound %s: %s", row["id"], note)

    # -- outbound -------------------------------------------------------------------------------------------
    def outbound(self):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT cursor_time, cursor_id FROM exchange_cursor WHERE name = %s", (CURSOR,))
            row = cur.fetchone()
        after_time = (row and row["cursor_time"]) or datetime.datetime(1970, 1, 1)
        after_id = (row and row["cursor_id"]) or 0
        copied = 0
        for _ in range(self.max_pages):
            items = self.app.completed_tasks(after_time, after_id, self.page)
            if not items:
                break
            copied += self.store_results(items)
            after_time, after_id = parse_time(items[-1]["completed_at"]), items[-1]["id"]
            with self.pool.connection() as conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO exchange_cursor (name, cursor_time, cursor_id) VALUES (%s, %s, %s) "
                    "ON DUPLICATE KEY UPDATE cursor_time = VALUES(cursor_time), cursor_id = VALUES(cursor_id)",
                    (CURSOR, after_time, after_id),
                )
                conn.commit()
            if len(items) < self.page:
                break
        return copied

    def result_rows(self, items, his_ids):
        columns = ["task_id", "patient_id", "his_patient_id", "plan_id", "status", "call_id", "call_result"]
        columns.append("completed_at")
        if self.durations:
            columns.append("call_duration_seconds")
        rows = []
        for item in items:
            row = [
                item["id"],
                item["patient_id"],
                his_ids.get(item["patient_id"]),
                item.get("plan_id"),
                "completed",
                item.get("call_id"),
                item.get("call_result"),
                parse_time(item["completed_at"]),
            ]
            if self.durations:
                row.append(item.get("call_duration_seconds"))
            rows.append(row)
        return columns, rows

    def store_results(self, items):
        patient_ids = sorted({item["patient_id"] for item in items})
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT app_patient_id, his_patient_id FROM his_patient_inbound WHERE app_patient_id IN "  # noqa: S608
                f"({', '.join(['%s'] * len(patient_ids))})",
                patient_ids,
            )
            his_ids = {row["app_patient_id"]: row["his_patient_id"] for row in cur.fetchall()}
            columns, rows = self.result_rows(items, his_ids)
            cur.executemany(
                f"INSERT IGNORE INTO followup_result_outbound ({', '.join(columns)}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(columns))})",
                rows,
            )
            inserted = cur.rowcount
            conn.commit()
        return max(inserted, 0)

    # -- cycle ----------------------------------------------------------------------------------------------
    def run_once(self):
        started = time.monotonic()
        error = None
        inbound = {"sent": 0, "error": 0, "retry": 0}
        copied = 0
        try:
            inbound = self.inbound()
        except Exception as exc:
            error = f"inbound: {exc.__class__.__name__}: {exc}"
        try:
            copied = self.outbound()
        except Exception as exc:
            error = f"outbound: {exc.__class__.__name__}: {exc}"
        if error:
            self.log.error("exchange cycle: %s", error)
        elif inbound["sent"] or inbound["error"] or copied:
            self.log.info(
                "exchange cycle: %d sent, %d error, %d retry, %d results copied",
                inbound["sent"],
                inbound["error"],
                inbound["retry"],
                copied,
            )
        with self.lock:
            self.stats["cycles"] += 1
            self.stats["last_cycle_at"] = utcnow()
            self.stats["last_cycle_ms"] = round((time.monotonic() - started) * 1000, 1)
            self.stats["inbound_sent"] += inbound["sent"]
            self.stats["inbound_error"] += inbound["error"]
            self.stats["inbound_retry"] += inbound["retry"]
            self.stats["outbound_copied"] += copied
            self.stats["last_error"] = error[:300] if error else None
        return inbound, copied

    def run_forever(self, stop, poll_seconds):
        self.log.info("exchange worker started, every %s s", poll_seconds)
        while not stop.is_set():
            self.run_once()
            stop.wait(poll_seconds)
        self.log.info("exchange worker stopped")

    def snapshot(self):
        with self.lock:
            return dict(self.stats)
