"""python3 -m followup_voice: run the voice program until SIGTERM."""

import sys

from followup_common import config, logs
from followup_common.httpd import serve
from followup_common.versions import load_release

from . import SERVICE


def main():
    log = logs.setup("followup_voice")
    version, release_date = load_release("followup_voice._release")
    try:
        address = config.listen_address(8090)
        mongodb = config.mongodb_settings()
        proxy_host, proxy_port = config.parse_host_port(
            config.env("FOLLOWUP_SIP_PROXY", "127.0.0.1:5060"), "FOLLOWUP_SIP_PROXY", default_port=5060
        )
    except config.ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    import pymongo

    from .service import VoiceService
    from .sip import SipUac

    log.info(
        "%s %s (%s) starting; mongodb %s db %s; SIP proxy %s:%s",
        SERVICE,
        version,
        release_date,
        config.redact_uri(mongodb["uri"]),
        mongodb["database"],
        proxy_host,
        proxy_port,
    )
    client = pymongo.MongoClient(
        mongodb["uri"], serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, socketTimeoutMS=30000, appname=SERVICE
    )
    uac = SipUac(proxy_host, proxy_port, user_agent=f"{SERVICE}/{version}")
    service = VoiceService(uac, client[mongodb["database"]], version, release_date, log)
    return serve(service.router(), address, log, f"{SERVICE}/{version}", stop=(client.close,))


if __name__ == "__main__":
    sys.exit(main())
