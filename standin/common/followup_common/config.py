"""读取环境变量配置 Settings from environment variables (the only source of configuration)."""

import os
import re


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value if secret."""


def env(name, default=None, environ=None):
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"environment variable {name} is not set")
        return default
    return value


def env_int(name, default, minimum=None, maximum=None, environ=None):
    raw = env(name, str(default), environ)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"environment variable {name} is out of range")
    return value


def parse_host_port(value, name="FOLLOWUP_LISTEN", default_port=None):
    """Parse ``host:port`` (or ``[v6]:port``); returns (host, port)."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s]+):(\d+)|([^:\s]+)", value.strip())
    if not match:
        raise ConfigError(f"{name} must be host:port")
    if match.group(1):
        host, port = match.group(1), match.group(2)
    elif match.group(3):
        host, port = match.group(3), match.group(4)
    else:
        if default_port is None:
            raise ConfigError(f"{name} must be host:port")
        host, port = match.group(5), str(default_port)
    port = int(port)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} port must be 1-65535")
    return host, port


def listen_address(default_port, environ=None):
    """FOLLOWUP_LISTEN, default all interfaces on the component's port."""
    return parse_host_port(env("FOLLOWUP_LISTEN", f"0.0.0.0:{default_port}", environ))


def mysql_settings(environ=None):
    """Keyword arguments for pymysql.connect, from FOLLOWUP_MYSQL_*."""
    return {
        "host": env("FOLLOWUP_MYSQL_HOST", environ=environ),
        "port": env_int("FOLLOWUP_MYSQL_PORT", 3306, 1, 65535, environ),
        "user": env("FOLLOWUP_MYSQL_USER", environ=environ),
        "password": env("FOLLOWUP_MYSQL_PASSWORD", environ=environ),
        "database": env("FOLLOWUP_MYSQL_DATABASE", environ=environ),
    }


def mongodb_settings(environ=None):
    return {
        "uri": env("FOLLOWUP_MONGODB_URI", environ=environ),
        "database": env("FOLLOWUP_MONGODB_DATABASE", "cdr", environ),
    }


def base_url(name, environ=None):
    value = env(name, environ=environ).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigError(f"{name} must be an http:// or https:// URL")
    return value


def redact_uri(uri):
    """Hide the password of a URI (``scheme://user:secret@host`` → ``scheme://user:***@host``)."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^:@/]*):[^@/]*@", r"\1\2:***@", uri)


def describe_mysql(settings):
    """A loggable description of MySQL settings (no password)."""
    return f"{settings['user']}@{settings['host']}:{settings['port']}/{settings['database']}"
