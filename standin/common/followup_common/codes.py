"""状态与结果编码 Status and result codes shared by the components (code → 中文 text)."""

TASK_STATUS_TEXT = {"pending": "待随访", "completed": "已完成", "failed": "失败"}
TASK_STATUS_CODE = {text: code for code, text in TASK_STATUS_TEXT.items()}

CALL_RESULT_TEXT = {"answered": "接通", "busy": "忙线", "no_answer": "无人接听", "failed": "失败"}
CALL_RESULT_CODE = {text: code for code, text in CALL_RESULT_TEXT.items()}

EDUCATION_CATEGORY = {"inpatient": "住院", "outpatient": "门诊"}


def task_status_code(value):
    """A task status given as code or 中文 text → code (None if unknown)."""
    if value in TASK_STATUS_TEXT:
        return value
    return TASK_STATUS_CODE.get(value)


def call_result_code(value):
    if value in CALL_RESULT_TEXT:
        return value
    return CALL_RESULT_CODE.get(value)


def result_for_sip_code(sip_code):
    """The call result of a final SIP answer (None: no answer at all)."""
    if sip_code is None:
        return "failed"
    if 200 <= sip_code < 300:
        return "answered"
    if sip_code in (486, 600):
        return "busy"
    if sip_code in (408, 480, 487, 603):
        return "no_answer"
    return "failed"


def mask_phone(phone):
    """``19900001234`` → ``199****1234``: enough to recognise, not enough to dial."""
    phone = phone or ""
    if len(phone) <= 4:
        return "*" * len(phone)
    if len(phone) < 8:
        return "*" * (len(phone) - 4) + phone[-4:]
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def format_duration(seconds):
    """Seconds → ``mm:ss`` (the 1.0/1.1 call record format)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def parse_duration(value):
    """``mm:ss`` text or a number of seconds → int seconds (None if neither)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) in (2, 3) and all(part.isdigit() for part in parts):
            total = 0
            for part in parts:
                total = total * 60 + int(part)
            return total
    return None
