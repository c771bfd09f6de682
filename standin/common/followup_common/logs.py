"""纯文本日志 Plain-line logging to stderr (journald adds time stamps and the unit name)."""

import logging
import sys


def setup(name):
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(levelname)s %(name)s [%(threadName)s] %(message)s",
        force=True,
    )
    return logging.getLogger(name)
