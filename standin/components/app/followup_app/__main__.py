"""python3 -m followup_app: run the application service until SIGTERM."""

import sys

from followup_common import config, logs
from followup_common.httpd import serve
from followup_common.versions import load_release

from . import SERVICE


def main():
    log = logs.setup("followup_app")
    version, release_date = load_release("followup_app._release")
    try:
        address = config.listen_address(8080)
        mysql = config.mysql_settings()
        mongodb = config.mongodb_settings()
        voice_url = config.base_url("FOLLOWUP_VOICE_URL")
    except config.ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    import pymongo
    from followup_common.mysqlpool import Pool

    from .api import App, VoiceClient
    from .cdr import Cdr
    from .store import Store

    log.info(
        "%s %s (%s) starting; mysql %s; mongodb %s db %s; voice %s",
        SERVICE,
        version,
        release_date,
        config.describe_mysql(mysql),
        config.redact_uri(mongodb["uri"]),
        mongodb["database"],
        voice_url,
    )
    pool = Pool(mysql, size=16)
    client = pymongo.MongoClient(
        mongodb["uri"], serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, socketTimeoutMS=30000, appname=SERVICE
    )
    app = App(
        Store(pool, tuple(int(part) for part in version.split("."))),
        Cdr(client[mongodb["database"]]),
        VoiceClient(voice_url),
        version,
        release_date,
        log,
    )
    return serve(app.router(), address, log, f"{SERVICE}/{version}", stop=(pool.close, client.close))


if __name__ == "__main__":
    sys.exit(main())
