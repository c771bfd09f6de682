"""模拟 HIS 写入出院患者 Simulate the HIS: insert synthetic discharged patients into his_patient_inbound.

    python3 -m followup_fep.his_sim --count 20 [--plan-code PLN001] [--start 1]

Same environment as the interface service (FOLLOWUP_MYSQL_*). Synthetic people only; rows are keyed by
his_patient_id HIS<start..>, so running it twice with the same --start adds the same people again as new rows
(as a HIS resending would); the app answers 409 for those and the interface service links the existing patient.
"""

import argparse
import datetime
import random
import sys

from followup_common import config

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def inbound_row(number, plan_code, today):
    rng = random.Random(f"his:{number}")  # noqa: S311 - synthetic data, not security
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return (
        f"HIS{number:08d}",
        f"V{number:08d}",
        name,
        rng.choice("MF"),
        datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(0, 23000)),
        f"1980000{number % 10000:04d}",
        rng.choice(["心内科", "呼吸内科", "骨科", "普外科", "内分泌科"]),
        rng.choice(["高血压", "冠心病", "肺炎", "骨折术后", "糖尿病"]),
        today - datetime.timedelta(days=rng.randrange(0, 7)),
        plan_code,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Insert synthetic HIS patients into interface_data.")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--plan-code", default=None)
    args = parser.parse_args(argv)
    import pymysql

    settings = config.mysql_settings()
    today = datetime.datetime.now(datetime.UTC).date()
    rows = [inbound_row(number, args.plan_code, today) for number in range(args.start, args.start + args.count)]
    conn = pymysql.connect(charset="utf8mb4", autocommit=False, **settings)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO his_patient_inbound (his_patient_id, visit_no, name, gender, birth_date, phone, "
                "department, diagnosis, discharge_date, plan_code) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
    finally:
        conn.close()
    print(f"his_sim: {len(rows)} rows inserted into his_patient_inbound")
    return 0


if __name__ == "__main__":
    sys.exit(main())
