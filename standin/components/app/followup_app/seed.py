"""合成数据 Synthetic, deterministic data for the stand-in: patients, follow-up tasks, call records, reference data.

    python3 -m followup_app.seed --scale N [--batch 1000] [--force]

Same environment as the application (FOLLOWUP_MYSQL_*, FOLLOWUP_MONGODB_*). Scale N gives N×1000 patients,
10 follow-up tasks and 10 call records per patient, plus plans, questionnaires, 宣教 material and knowledge base.
Nobody here is a real person: names are built from syllable lists, phone numbers are 199xxxxxxxx.
Every patient's data comes from its own seeded random generator, so patient P0000042 is the same at any scale.
Rows have stable keys (patient_no, task_no, call _id) inserted with INSERT IGNORE / unordered inserts, so running
again adds nothing twice; a finished scale is recorded in seed_runs and skipped unless --force.
"""

import argparse
import datetime
import json
import random
import sys
import time

from followup_common.codes import CALL_RESULT_TEXT, TASK_STATUS_TEXT, format_duration, mask_phone

SALT = 20260202
TASKS_PER_PATIENT = 10
AS_OF = datetime.date(2026, 2, 1)  # the synthetic history ends here

SURNAMES = "".join(
    (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹",
        "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦",
    )
)
GIVEN = "".join(
    (
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国",
        "志文斌辉宇浩凯鹏飞鑫波宁琳雪梅倩婷晨阳佳欣怡子涵思雨博轩嘉乐安然",
    )
)

# department → (diseases, plan code)
DEPARTMENTS = {
    "心血管内科": (("高血压", "冠心病", "心力衰竭"), "PLN001"),
    "呼吸内科": (("慢性阻塞性肺疾病", "社区获得性肺炎", "支气管哮喘"), "PLN002"),
    "内分泌科": (("2型糖尿病", "甲状腺功能亢进"), "PLN003"),
    "骨科": (("股骨颈骨折术后", "腰椎间盘突出症", "膝关节置换术后"), "PLN004"),
    "普外科": (("腹腔镜胆囊切除术后", "疝修补术后"), "PLN005"),
    "神经内科": (("脑梗死", "短暂性脑缺血发作"), "PLN006"),
    "肿瘤科": (("肺癌化疗后", "结直肠癌术后"), "PLN007"),
    "妇产科": (("剖宫产术后", "顺产产后"), "PLN008"),
}

PLANS = (
    # code, name, department, disease, interval_days, times, channel, questionnaire code
    ("PLN001", "心血管内科出院随访", "心血管内科", "高血压", 30, 10, "voice", "QN001"),
    ("PLN002", "呼吸内科出院随访", "呼吸内科", "慢性阻塞性肺疾病", 30, 10, "voice", "QN002"),
    ("PLN003", "糖尿病专病随访", "内分泌科", "2型糖尿病", 14, 10, "voice", "QN003"),
    ("PLN004", "骨科术后康复随访", "骨科", "骨折术后", 14, 10, "voice", "QN004"),
    ("PLN005", "普外科术后随访", "普外科", "术后", 7, 10, "voice", "QN004"),
    ("PLN006", "脑卒中专病随访", "神经内科", "脑梗死", 30, 10, "voice", "QN005"),
    ("PLN007", "肿瘤患者随访", "肿瘤科", "恶性肿瘤", 21, 10, "voice", "QN005"),
    ("PLN008", "产后随访", "妇产科", "产后", 7, 10, "voice", "QN001"),
)

QUESTIONNAIRES = (
    ("QN001", "出院患者满意度调查", None, ("您对住院期间的医疗服务是否满意？", "您对护士的服务是否满意？")),
    ("QN002", "呼吸系统症状随访问卷", "呼吸内科", ("近期是否有咳嗽、咳痰加重？", "是否按时使用吸入药物？")),
    ("QN003", "血糖管理随访问卷", "内分泌科", ("最近一周空腹血糖是多少？", "是否按时服药或注射胰岛素？")),
    ("QN004", "术后康复随访问卷", None, ("伤口是否有红肿、渗液？", "疼痛评分（0-10分）？")),
    ("QN005", "慢病综合随访问卷", None, ("目前身体状况如何？", "是否按时复诊？", "有无新的不适症状？")),
)

EDUCATION_TOPICS = ("出院后饮食指导", "用药注意事项", "康复锻炼指导", "复诊提醒", "心理调适")
KNOWLEDGE_TOPICS = ("疾病概述", "常见症状", "危险因素", "治疗要点", "随访要点")

# outcome of a seeded call → (weight, task status)
OUTCOMES = (("answered", 75), ("busy", 10), ("no_answer", 10), ("failed", 5))


def rng_for(seq):
    return random.Random(SALT * 10_000_000 + seq)  # noqa: S311 - synthetic data, not security


def patient_no(seq):
    return f"P{seq:07d}"


def task_no(seq, k):
    return f"T{seq:07d}{k:02d}"


def call_id(seq, k):
    return f"C{seq:07d}{k:02d}"


def synthetic_name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def patient_history(seq):
    """One patient and the 10 follow-ups of its plan, each with its call: a pure function of seq."""
    rng = rng_for(seq)
    department = rng.choice(sorted(DEPARTMENTS))
    diseases, plan_code = DEPARTMENTS[department]
    plan = next(plan for plan in PLANS if plan[0] == plan_code)
    interval = plan[4]
    last_due = AS_OF - datetime.timedelta(days=rng.randrange(0, 60))
    discharge = last_due - datetime.timedelta(days=interval * TASKS_PER_PATIENT)
    gender = rng.choice("MF") if department != "妇产科" else "F"
    patient = {
        "patient_no": patient_no(seq),
        "name": synthetic_name(rng),
        "gender": gender,
        "birth_date": datetime.date(1935, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 70)),
        "phone": f"199{seq:08d}",
        "department": department,
        "diagnosis": rng.choice(diseases),
        "discharge_date": discharge,
        "plan_code": plan_code,
    }
    tasks = []
    for k in range(TASKS_PER_PATIENT):
        due = discharge + datetime.timedelta(days=interval * (k + 1))
        result = rng.choices([name for name, _ in OUTCOMES], [weight for _, weight in OUTCOMES])[0]
        if result == "answered":
            status = "completed"
        elif result in ("busy", "no_answer") and rng.random() < 0.4:
            status = "pending"  # will be called again
        else:
            status = "failed"
        started = datetime.datetime.combine(due, datetime.time(1, 0)) + datetime.timedelta(
            seconds=rng.randrange(0, 8 * 3600)
        )
        ring = rng.randrange(3, 30)
        duration = rng.randrange(30, 600) if result == "answered" else 0
        ended = started + datetime.timedelta(seconds=ring + duration)
        tasks.append(
            {
                "task_no": task_no(seq, k),
                "call_id": call_id(seq, k),
                "due_date": due,
                "status": status,
                "call_result": result,
                "sip_code": {"answered": 200, "busy": 486, "no_answer": 480, "failed": 503}[result],
                "started_at": started,
                "answered_at": started + datetime.timedelta(seconds=ring) if result == "answered" else None,
                "ended_at": ended,
                "duration": duration,
                "completed_at": ended if status == "completed" else None,
            }
        )
    return patient, tasks


def patient_columns():
    return ["patient_no", "name", "gender", "birth_date", "phone", "department", "diagnosis", "discharge_date"]


def patient_values(patient):
    return [patient[column] for column in patient_columns()] + ["seed"]


def task_columns(version_info):
    columns = ["task_no", "patient_id", "plan_id", "due_date", "channel", "status", "call_id", "call_result"]
    columns += ["completed_at"]
    if version_info >= (1, 1, 0):
        columns.append("status_code")
    if version_info >= (1, 2, 0):
        columns += ["attempts", "call_duration_seconds"]
    return columns


def task_values(task, patient_id, plan_id, version_info):
    row = [
        task["task_no"],
        patient_id,
        plan_id,
        task["due_date"],
        "voice",
        TASK_STATUS_TEXT[task["status"]],
        task["call_id"],
        task["call_result"],
        task["completed_at"],
    ]
    if version_info >= (1, 1, 0):
        row.append(task["status"])
    if version_info >= (1, 2, 0):
        row += [1, task["duration"]]
    return row


def call_document(task, task_id, patient_id, phone, version_info):
    """The cdr.call_records document of a seeded call, in the format of the release that seeds."""
    doc = {
        "_id": task["call_id"],
        "task_id": task_id,
        "patient_id": patient_id,
        "phone_masked": mask_phone(phone),
        "sip_call_id": f"seed-{task['call_id']}@standin.invalid",
        "sip_code": task["sip_code"],
        "started_at": task["started_at"],
        "answered_at": task["answered_at"],
        "ended_at": task["ended_at"],
    }
    if version_info >= (1, 2, 0):
        doc.update(
            result=task["call_result"], result_text=CALL_RESULT_TEXT[task["call_result"]], duration=task["duration"]
        )
    else:
        doc.update(result=CALL_RESULT_TEXT[task["call_result"]], duration=format_duration(task["duration"]))
    return doc


def reference_rows():
    """Plans, questionnaires, 宣教 material and knowledge base entries (fixed codes)."""
    questionnaires = [
        (
            code,
            title,
            department,
            json.dumps([{"text": q, "type": "text", "options": []} for q in questions], ensure_ascii=False),
        )
        for code, title, department, questions in QUESTIONNAIRES
    ]
    education, knowledge = [], []
    number = 0
    for department, (diseases, _) in sorted(DEPARTMENTS.items()):
        for disease in diseases:
            for topic in EDUCATION_TOPICS[:3]:
                number += 1
                category = "住院" if number % 2 else "门诊"
                content = (
                    f"{disease}患者{topic}：请遵医嘱按时用药，合理饮食，适量活动，如有不适及时就诊。（合成示例内容）"
                )
                education.append((f"EDU{number:03d}", f"{disease}{topic}", category, department, content))
    number = 0
    for department, (diseases, _) in sorted(DEPARTMENTS.items()):
        for disease in diseases:
            for topic in KNOWLEDGE_TOPICS[:2]:
                number += 1
                content = f"{disease}{topic}（合成示例内容，仅供系统测试）。"
                knowledge.append(
                    (f"KB{number:03d}", f"{disease}{topic}", disease, department, content, f"{department},{disease}")
                )
    return {"questionnaires": questionnaires, "plans": list(PLANS), "education": education, "knowledge": knowledge}


class Seeder:
    def __init__(self, conn, db, version_info, out=sys.stdout):
        self.conn = conn
        self.db = db
        self.version_info = tuple(version_info)
        self.out = out

    def say(self, text):
        print(f"seed: {text}", file=self.out, flush=True)

    def already_seeded(self, scale):
        with self.conn.cursor() as cur:
            cur.execute("SELECT scale, patients, tasks, call_records FROM seed_runs WHERE scale >= %s", (scale,))
            return cur.fetchone()

    def seed_reference(self):
        ref = reference_rows()
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT IGNORE INTO questionnaires (code, title, department, questions) VALUES (%s, %s, %s, %s)",
                ref["questionnaires"],
            )
            cur.execute("SELECT id, code FROM questionnaires WHERE code LIKE 'QN%'")
            questionnaire_ids = {row_value(row, "code", 1): row_value(row, "id", 0) for row in cur.fetchall()}
            cur.executemany(
                "INSERT IGNORE INTO followup_plans (plan_code, name, department, disease, interval_days, times, "
                "channel, questionnaire_id, description) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*plan[:7], questionnaire_ids.get(plan[7]), f"{plan[1]}（合成示例）") for plan in ref["plans"]],
            )
            cur.executemany(
                "INSERT IGNORE INTO education_materials (code, title, category, department, content) "
                "VALUES (%s, %s, %s, %s, %s)",
                ref["education"],
            )
            cur.executemany(
                "INSERT IGNORE INTO knowledge_base (code, title, disease, department, content, tags) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                ref["knowledge"],
            )
            cur.execute("SELECT id, plan_code FROM followup_plans WHERE plan_code LIKE 'PLN%'")
            plan_ids = {row_value(row, "plan_code", 1): row_value(row, "id", 0) for row in cur.fetchall()}
        self.conn.commit()
        return plan_ids

    def seed_batch(self, first, last, plan_ids):
        """Patients first..last (inclusive) with their tasks and calls; returns counts of rows newly inserted."""
        histories = [patient_history(seq) for seq in range(first, last + 1)]
        with self.conn.cursor() as cur:
            columns = [*patient_columns(), "source"]
            cur.executemany(
                f"INSERT IGNORE INTO patients ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                [patient_values(patient) for patient, _ in histories],
            )
            new_patients = cur.rowcount
            cur.execute(
                "SELECT id, patient_no FROM patients WHERE patient_no BETWEEN %s AND %s",
                (patient_no(first), patient_no(last)),
            )
            patient_ids = {row_value(row, "patient_no", 1): row_value(row, "id", 0) for row in cur.fetchall()}
            columns = task_columns(self.version_info)
            task_rows = [
                task_values(
                    task, patient_ids[patient["patient_no"]], plan_ids.get(patient["plan_code"]), self.version_info
                )
                for patient, tasks in histories
                for task in tasks
            ]
            cur.executemany(
                f"INSERT IGNORE INTO followup_tasks ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
                task_rows,
            )
            new_tasks = cur.rowcount
            cur.execute(
                "SELECT id, task_no FROM followup_tasks WHERE task_no BETWEEN %s AND %s",
                (task_no(first, 0), task_no(last, TASKS_PER_PATIENT - 1)),
            )
            task_ids = {row_value(row, "task_no", 1): row_value(row, "id", 0) for row in cur.fetchall()}
        self.conn.commit()
        docs = [
            call_document(
                task, task_ids[task["task_no"]], patient_ids[patient["patient_no"]], patient["phone"], self.version_info
            )
            for patient, tasks in histories
            for task in tasks
        ]
        new_calls = insert_new(self.db["call_records"], docs)
        return max(new_patients, 0), max(new_tasks, 0), new_calls

    def run(self, scale, batch=1000, force=False):
        started = time.monotonic()
        total = scale * 1000
        done = self.already_seeded(scale)
        if done and not force:
            self.say(f"scale {row_value(done, 'scale', 0)} already seeded; nothing to do (use --force to check again)")
            return 0
        plan_ids = self.seed_reference()
        self.say(f"reference data: {len(PLANS)} plans, {len(QUESTIONNAIRES)} questionnaires, 宣教 and knowledge base")
        counts = [0, 0, 0]
        for first in range(1, total + 1, batch):
            last = min(total, first + batch - 1)
            for index, value in enumerate(self.seed_batch(first, last, plan_ids)):
                counts[index] += value
            self.say(f"{last}/{total} patients ({time.monotonic() - started:.1f} s)")
        seconds = round(time.monotonic() - started, 1)
        with self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO seed_runs (scale, patients, tasks, call_records, seconds, version) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE patients = VALUES(patients), "
                "tasks = VALUES(tasks), call_records = VALUES(call_records), seconds = VALUES(seconds), "
                "version = VALUES(version), finished_at = CURRENT_TIMESTAMP",
                (
                    scale,
                    total,
                    total * TASKS_PER_PATIENT,
                    total * TASKS_PER_PATIENT,
                    seconds,
                    ".".join(map(str, self.version_info)),
                ),
            )
        self.conn.commit()
        self.say(
            f"done: scale {scale}: {total} patients, {total * TASKS_PER_PATIENT} tasks, "
            f"{total * TASKS_PER_PATIENT} call records ({counts[0]} patients, {counts[1]} tasks, {counts[2]} call "
            f"records newly inserted) in {seconds} s"
        )
        return 0


def row_value(row, key, index):
    return row[key] if isinstance(row, dict) else row[index]


def insert_new(collection, docs):
    """Insert documents whose _id is not there yet; returns how many were inserted."""
    if not docs:
        return 0
    import pymongo.errors

    try:
        return len(collection.insert_many(docs, ordered=False).inserted_ids)
    except pymongo.errors.BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != 11000 for error in errors):
            raise
        return exc.details.get("nInserted", 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Seed the stand-in with synthetic, deterministic data.")
    parser.add_argument("--scale", type=int, required=True, help="thousands of patients (10 tasks and calls each)")
    parser.add_argument("--batch", type=int, default=1000, help="patients per batch (default 1000)")
    parser.add_argument("--force", action="store_true", help="seed again even if seed_runs says it is done")
    args = parser.parse_args(argv)
    if not 1 <= args.scale <= 10000 or not 100 <= args.batch <= 5000:
        parser.error("--scale must be 1-10000 and --batch 100-5000")
    from followup_common import config
    from followup_common.versions import load_release

    try:
        mysql = config.mysql_settings()
        mongodb = config.mongodb_settings()
    except config.ConfigError as exc:
        print(f"seed: error: {exc}", file=sys.stderr)
        return 2
    import pymongo
    import pymysql

    version, _ = load_release("followup_app._release")
    print(f"seed: release {version}; mysql {config.describe_mysql(mysql)}; mongodb {config.redact_uri(mongodb['uri'])}")
    conn = pymysql.connect(charset="utf8mb4", autocommit=False, init_command="SET time_zone = '+00:00'", **mysql)
    client = pymongo.MongoClient(mongodb["uri"], serverSelectionTimeoutMS=5000)
    try:
        seeder = Seeder(conn, client[mongodb["database"]], tuple(int(part) for part in version.split(".")))
        return seeder.run(args.scale, args.batch, args.force)
    finally:
        conn.close()
        client.close()


if __name__ == "__main__":
    sys.exit(main())
