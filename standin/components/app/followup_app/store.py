"""cloud_followup 数据访问 Data access to cloud_followup, adapted to the schema of this release.

1.0.0: task status is Chinese text (status). 1.1.0: status_code (pending/completed/failed) beside it.
1.2.0: attempts and call_duration_seconds on tasks.
"""

import contextlib
import json
import uuid

import pymysql
from followup_common.codes import TASK_STATUS_TEXT, task_status_code

PATIENT_COLUMNS = (
    "id, patient_no, his_patient_id, name, gender, birth_date, phone, department, diagnosis, discharge_date, "
    "source, created_at"
)
PLAN_COLUMNS = (
    "id, plan_code, name, department, disease, interval_days, times, channel, questionnaire_id, description, "
    "active, created_at"
)

# Reference data kinds served by the generic list/create endpoints: table, columns, JSON columns.
REFERENCE = {
    "questionnaires": ("questionnaires", ("code", "title", "department", "questions"), ("questions",)),
    "education": ("education_materials", ("code", "title", "category", "department", "content"), ()),
    "knowledge": ("knowledge_base", ("code", "title", "disease", "department", "content", "tags"), ()),
}


class Conflict(Exception):
    def __init__(self, field, existing_id=None):
        super().__init__(field)
        self.field = field
        self.existing_id = existing_id


class Store:
    def __init__(self, pool, version_info):
        self.pool = pool
        self.version_info = tuple(version_info)
        self.status_codes = self.version_info >= (1, 1, 0)
        self.call_metrics = self.version_info >= (1, 2, 0)

    def ping(self):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 AS ok")
            return cur.fetchone()["ok"] == 1

    # -- patients -------------------------------------------------------------------------------------------
    def list_patients(self, limit, offset):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {PATIENT_COLUMNS} FROM patients ORDER BY id LIMIT %s OFFSET %s", (limit, offset))  # noqa: S608
            return cur.fetchall()

    def get_patient(self, patient_id):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {PATIENT_COLUMNS} FROM patients WHERE id = %s", (patient_id,))  # noqa: S608
            return cur.fetchone()

    def create_patient(self, data):
        """Insert a patient; patient_no defaults to A + the id. Raises Conflict on a duplicate HIS id or number."""
        columns = ["patient_no", "his_patient_id", "name", "gender", "birth_date", "phone", "department"]
        columns += ["diagnosis", "discharge_date", "source"]
        values = dict(data)
        generated = not values.get("patient_no")
        if generated:
            values["patient_no"] = "~" + uuid.uuid4().hex[:19]
        values.setdefault("source", "api")
        with self.pool.connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(
                    f"INSERT INTO patients ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                    [values.get(column) for column in columns],
                )
            except pymysql.err.IntegrityError as exc:
                conn.rollback()
                raise self._patient_conflict(cur, values, exc) from None
            new_id = cur.lastrowid
            if generated:
                cur.execute("UPDATE patients SET patient_no = %s WHERE id = %s", (f"A{new_id:09d}", new_id))
            conn.commit()
        return self.get_patient(new_id)

    @staticmethod
    def _patient_conflict(cur, values, exc):
        if values.get("his_patient_id"):
            cur.execute("SELECT id FROM patients WHERE his_patient_id = %s", (values["his_patient_id"],))
            row = cur.fetchone()
            if row:
                return Conflict("his_patient_id", row["id"])
        cur.execute("SELECT id FROM patients WHERE patient_no = %s", (values["patient_no"],))
        row = cur.fetchone()
        if row:
            return Conflict("patient_no", row["id"])
        return exc

    # -- plans ----------------------------------------------------------------------------------------------
    def list_plans(self, limit, offset):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {PLAN_COLUMNS} FROM followup_plans ORDER BY id LIMIT %s OFFSET %s", (limit, offset))  # noqa: S608
            return cur.fetchall()

    def get_plan(self, plan_id=None, plan_code=None):
        with self.pool.connection() as conn, conn.cursor() as cur:
            if plan_id is not None:
                cur.execute(f"SELECT {PLAN_COLUMNS} FROM followup_plans WHERE id = %s", (plan_id,))  # noqa: S608
            else:
                cur.execute(f"SELECT {PLAN_COLUMNS} FROM followup_plans WHERE plan_code = %s", (plan_code,))  # noqa: S608
            return cur.fetchone()

    def create_plan(self, data):
        columns = ["plan_code", "name", "department", "disease", "interval_days", "times", "channel"]
        columns += ["questionnaire_id", "description"]
        with self.pool.connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(
                    f"INSERT INTO followup_plans ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                    [data.get(column) for column in columns],
                )
            except pymysql.err.IntegrityError:
                raise Conflict("plan_code") from None
            new_id = cur.lastrowid
            conn.commit()
        return self.get_plan(plan_id=new_id)

    # -- tasks ----------------------------------------------------------------------------------------------
    def _task_columns(self):
        columns = "id, task_no, patient_id, plan_id, due_date, channel, status, call_id, call_result, result_note, "
        columns += "completed_at, created_at, updated_at"
        if self.status_codes:
            columns += ", status_code"
        if self.call_metrics:
            columns += ", attempts, call_duration_seconds"
        return columns

    def task_view(self, row):
        if row is None:
            return None
        view = dict(row)
        text = view.pop("status")
        code = view.pop("status_code", None) or task_status_code(text) or "pending"
        view["status"] = code
        view["status_text"] = TASK_STATUS_TEXT.get(code, text)
        return view

    def list_tasks(self, status=None, patient_id=None, limit=50, after_id=None, completed_after=None):
        where, params = [], []
        if status:
            if self.status_codes:
                where.append("status_code = %s")
                params.append(status)
            else:
                where.append("status = %s")
                params.append(TASK_STATUS_TEXT[status])
        if patient_id is not None:
            where.append("patient_id = %s")
            params.append(patient_id)
        if completed_after is not None:
            where.append("(completed_at > %s OR (completed_at = %s AND id > %s))")
            params += [completed_after, completed_after, after_id or 0]
            order = "completed_at, id"
        elif after_id is not None:
            where.append("id > %s")
            params.append(after_id)
            order = "id"
        else:
            order = "id DESC"
        sql = f"SELECT {self._task_columns()} FROM followup_tasks"  # noqa: S608 - fixed column lists
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT %s"
        params.append(limit)
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return [self.task_view(row) for row in cur.fetchall()]

    def get_task(self, task_id):
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {self._task_columns()} FROM followup_tasks WHERE id = %s", (task_id,))  # noqa: S608
            return self.task_view(cur.fetchone())

    def create_task(self, patient_id, plan_id, due_date, channel):
        columns = ["patient_id", "plan_id", "due_date", "channel", "status"]
        values = [patient_id, plan_id, due_date, channel, TASK_STATUS_TEXT["pending"]]
        if self.status_codes:
            columns.append("status_code")
            values.append("pending")
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO followup_tasks ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                values,
            )
            new_id = cur.lastrowid
            conn.commit()
        return self.get_task(new_id)

    def record_call(self, task_id, call_id, result, duration_seconds=None):
        """Store a call's outcome on its task: answered → completed, anything else → failed."""
        status = "completed" if result == "answered" else "failed"
        sets = ["call_id = %s", "call_result = %s", "status = %s"]
        params = [call_id, result, TASK_STATUS_TEXT[status]]
        sets.append("completed_at = UTC_TIMESTAMP()" if status == "completed" else "completed_at = NULL")
        if self.status_codes:
            sets.append("status_code = %s")
            params.append(status)
        if self.call_metrics:
            sets += ["attempts = attempts + 1", "call_duration_seconds = %s"]
            params.append(duration_seconds)
        params.append(task_id)
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"UPDATE followup_tasks SET {', '.join(sets)} WHERE id = %s", params)  # noqa: S608
            conn.commit()
        return self.get_task(task_id)

    # -- questionnaires, education material, knowledge base ------------------------------------------------
    def list_reference(self, kind, limit, offset):
        table, columns, json_columns = REFERENCE[kind]
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT id, {', '.join(columns)}, created_at FROM {table} ORDER BY id LIMIT %s OFFSET %s",  # noqa: S608
                (limit, offset),
            )
            rows = cur.fetchall()
        for row in rows:
            for column in json_columns:
                with contextlib.suppress(TypeError, ValueError):
                    row[column] = json.loads(row[column])
        return rows

    def get_reference(self, kind, entry_id):
        table, columns, json_columns = REFERENCE[kind]
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, {', '.join(columns)}, created_at FROM {table} WHERE id = %s", (entry_id,))  # noqa: S608
            row = cur.fetchone()
        if row:
            for column in json_columns:
                with contextlib.suppress(TypeError, ValueError):
                    row[column] = json.loads(row[column])
        return row

    def create_reference(self, kind, data):
        table, columns, json_columns = REFERENCE[kind]
        values = [
            json.dumps(data.get(column), ensure_ascii=False) if column in json_columns else data.get(column)
            for column in columns
        ]
        with self.pool.connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                    values,
                )
            except pymysql.err.IntegrityError:
                raise Conflict("code") from None
            new_id = cur.lastrowid
            conn.commit()
            cur.execute(f"SELECT id, {', '.join(columns)}, created_at FROM {table} WHERE id = %s", (new_id,))  # noqa: S608
            row = cur.fetchone()
        for column in json_columns:
            row[column] = json.loads(row[column])
        return row
