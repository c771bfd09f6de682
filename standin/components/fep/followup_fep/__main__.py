"""python3 -m followup_fep: run the interface service (HTTP and the exchange worker) until SIGTERM."""

import sys
import threading

from followup_common import config, logs
from followup_common.httpd import serve
from followup_common.versions import load_release

from . import SERVICE


def main():
    log = logs.setup("followup_fep")
    version, release_date = load_release("followup_fep._release")
    try:
        address = config.listen_address(8081)
        mysql = config.mysql_settings()
        app_url = config.base_url("FOLLOWUP_APP_URL")
        poll = config.env_int("FOLLOWUP_INTERFACE_POLL_SECONDS", 5, 1, 86400)
    except config.ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    from followup_common.mysqlpool import Pool

    from .exchange import AppClient, Exchange
    from .service import FepService

    log.info(
        "%s %s (%s) starting; mysql %s; app %s; poll every %s s",
        SERVICE,
        version,
        release_date,
        config.describe_mysql(mysql),
        app_url,
        poll,
    )
    version_info = tuple(int(part) for part in version.split("."))
    pool = Pool(mysql, size=8)
    app = AppClient(app_url)
    exchange = Exchange(pool, app, version_info, log)
    service = FepService(pool, app, exchange, version, release_date, log)
    stop = threading.Event()
    worker = threading.Thread(target=exchange.run_forever, args=(stop, poll), name="exchange", daemon=True)

    def stop_worker():
        stop.set()
        worker.join(timeout=30)
        pool.close()

    return serve(service.router(), address, log, f"{SERVICE}/{version}", start=(worker.start,), stop=(stop_worker,))


if __name__ == "__main__":
    sys.exit(main())
