# followup-ops: the decisions of roles/mongodb that were Jinja programs (tested in tests/unit/filter_plugins/).

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _merge(base, extra):
    """BASE with EXTRA merged in recursively: mappings merge key by key, anything else from EXTRA replaces."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def followup_mongod_config(dbpath, logpath, port, bind_address, cache_size_gb=0, extra=None):
    """The settings of /etc/mongod.conf: storage in DBPATH, log appended to LOGPATH, PORT on 127.0.0.1 and
    BIND_ADDRESS (listed once), authorization on, time zones from the system, a WiredTiger cache of CACHE_SIZE_GB
    when above 0 (else mongod's default), then EXTRA (mongodb_mongod_extra_config) merged in recursively."""
    if extra is not None and not isinstance(extra, Mapping):
        raise AnsibleFilterError(
            f"mongodb_mongod_extra_config must be a mapping of mongod.conf settings, got {extra!r}: "
            "write it as YAML, e.g. {operationProfiling: {mode: slowOp}}"
        )
    addresses = ["127.0.0.1"]
    if str(bind_address) not in addresses:
        addresses.append(str(bind_address))
    config = {
        "storage": {"dbPath": str(dbpath)},
        "systemLog": {"destination": "file", "path": str(logpath), "logAppend": True},
        "net": {"port": int(port), "bindIp": ",".join(addresses)},
        "security": {"authorization": "enabled"},
        "processManagement": {"timeZoneInfo": "/usr/share/zoneinfo"},
    }
    cache = float(cache_size_gb or 0)
    if cache > 0:
        config["storage"]["wiredTiger"] = {"engineConfig": {"cacheSizeGB": cache}}
    return _merge(config, extra or {})


class FilterModule:
    def filters(self):
        return {"followup_mongod_config": followup_mongod_config}
