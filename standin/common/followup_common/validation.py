"""请求校验 Input validation: each failure is a 400 naming the field."""

import datetime
import re

from .httpd import HttpError


def check_fields(data, allowed):
    for key in data:
        if key not in allowed:
            raise HttpError(400, f"unknown field {key}", field=key)


def req_str(data, name, max_len, min_len=1, pattern=None):
    value = data.get(name)
    if value is None:
        raise HttpError(400, f"{name} is required", field=name)
    return _str(value, name, max_len, min_len, pattern)


def opt_str(data, name, max_len, default=None, pattern=None):
    value = data.get(name)
    if value is None or value == "":
        return default
    return _str(value, name, max_len, 1, pattern)


def _str(value, name, max_len, min_len, pattern):
    if not isinstance(value, str):
        raise HttpError(400, f"{name} must be a string", field=name)
    value = value.strip()
    if len(value) < min_len:
        raise HttpError(400, f"{name} must not be empty", field=name)
    if len(value) > max_len:
        raise HttpError(400, f"{name} is longer than {max_len} characters", field=name)
    if pattern and not re.fullmatch(pattern, value):
        raise HttpError(400, f"{name} has an invalid format", field=name)
    return value


def to_int(value, name, minimum=None, maximum=None):
    if isinstance(value, bool):
        raise HttpError(400, f"{name} must be an integer", field=name)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise HttpError(400, f"{name} must be an integer", field=name)
    if minimum is not None and value < minimum:
        raise HttpError(400, f"{name} must be at least {minimum}", field=name)
    if maximum is not None and value > maximum:
        raise HttpError(400, f"{name} must be at most {maximum}", field=name)
    return value


def req_int(data, name, minimum=None, maximum=None):
    if data.get(name) is None:
        raise HttpError(400, f"{name} is required", field=name)
    return to_int(data[name], name, minimum, maximum)


def opt_int(data, name, minimum=None, maximum=None, default=None):
    if data.get(name) is None or data.get(name) == "":
        return default
    return to_int(data[name], name, minimum, maximum)


def opt_bool(data, name, default=False):
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise HttpError(400, f"{name} must be true or false", field=name)
    return value


def opt_choice(data, name, choices, default=None):
    """``choices`` maps accepted inputs to stored values."""
    value = data.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in choices:
        raise HttpError(400, f"{name} must be one of {', '.join(sorted(set(choices)))}", field=name)
    return choices[value]


def opt_date(data, name, default=None, not_after=None, not_before=datetime.date(1900, 1, 1)):
    value = data.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise HttpError(400, f"{name} must be a date YYYY-MM-DD", field=name)
    try:
        parsed = datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise HttpError(400, f"{name} must be a date YYYY-MM-DD", field=name) from None
    if not_before and parsed < not_before:
        raise HttpError(400, f"{name} is before {not_before.isoformat()}", field=name)
    if not_after and parsed > not_after:
        raise HttpError(400, f"{name} is after {not_after.isoformat()}", field=name)
    return parsed


def opt_datetime(data, name):
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise HttpError(400, f"{name} must be an ISO date-time", field=name) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return parsed


def phone(data, name="phone"):
    value = data.get(name)
    if value is None:
        raise HttpError(400, f"{name} is required", field=name)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise HttpError(400, f"{name} must be a string of digits", field=name)
    cleaned = re.sub(r"[\s-]", "", str(value))
    if not re.fullmatch(r"\+?\d{5,20}", cleaned):
        raise HttpError(400, f"{name} must be 5 to 20 digits", field=name)
    return cleaned


def paging(query, default_limit=50, max_limit=500):
    limit = opt_int(query, "limit", 1, max_limit, default_limit)
    offset = opt_int(query, "offset", 0, 100_000_000, 0)
    return limit, offset
