# followup-ops mongodb_hardening: mongod's command line and FerretDB's listeners, in Python
# (tested in tests/unit/hardening/test_mongodb_hardening_filters.py).

import shlex

from ansible.errors import AnsibleFilterError

TLS_MODES = ("requireTLS", "preferTLS", "allowTLS")
PROTOCOLS = {"TLSv1": "TLS1_0", "TLSv1.0": "TLS1_0", "TLSv1.1": "TLS1_1", "TLSv1.2": "TLS1_2", "TLSv1.3": "TLS1_3"}


def mongodb_hardening_unit_execstart(unit_text):
    """The argv of the ExecStart line of a unit file (the mongodb role's mongod.service), never a drop-in's."""
    for line in str(unit_text or "").splitlines():
        line = line.strip()
        if line.startswith("ExecStart="):
            argv = shlex.split(line[len("ExecStart=") :].lstrip("@-:+!"))
            if argv:
                return argv
    raise AnsibleFilterError(
        "mongodb_hardening: mongod.service has no ExecStart line: run the mongodb role (mongodb_engine: mongod) first"
    )


def mongodb_hardening_disabled_protocols(allowed):
    """mongod's --tlsDisabledProtocols for the catalogue's accepted protocols (TLSv1.2, TLSv1.3)."""
    wanted = set()
    for name in allowed or []:
        if name not in PROTOCOLS:
            raise AnsibleFilterError(f"tls protocol {name!r}: use TLSv1.2 or TLSv1.3")
        wanted.add(PROTOCOLS[name])
    disabled = [p for p in ("TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3") if p not in wanted]
    if len(disabled) == 4:
        raise AnsibleFilterError("no TLS protocol left to accept")
    return ",".join(disabled)


def mongodb_hardening_mongod_argv(base, s):
    """mongod's command line: the unit's own (BASE) plus the hardening options of S."""
    argv = list(base)
    if s.get("auth"):
        argv += [
            "--auth",
            "--setParameter",
            "enableLocalhostAuthBypass=false",
            "--setParameter",
            "authenticationMechanisms={}".format(",".join(s["mechanisms"])),
            "--setParameter",
            f"localLogicalSessionTimeoutMinutes={int(s['session_timeout'])}",
        ]
    if s.get("bind"):
        argv += ["--bind_ip", ",".join(["127.0.0.1", s["bind_address"]])]
    if s.get("tls"):
        if s.get("tls_mode") not in TLS_MODES:
            raise AnsibleFilterError(
                "mongodb_hardening_tls_mode {!r}: use one of {}".format(s.get("tls_mode"), TLS_MODES)
            )
        argv += [
            "--tlsMode",
            s["tls_mode"],
            "--tlsCertificateKeyFile",
            s["tls_pem"],
            "--tlsCAFile",
            s["tls_ca"],
            "--tlsAllowConnectionsWithoutCertificates",
            "--tlsDisabledProtocols",
            mongodb_hardening_disabled_protocols(s["tls_protocols"]),
        ]
    if s.get("no_javascript"):
        argv.append("--noscripting")
    return " ".join(shlex.quote(a) for a in argv)


def mongodb_hardening_ferretdb_env(s):
    """FerretDB's listener settings, name -> value: TLS on the port (requireTLS: no plain listener) or beside it."""
    address = s["bind_address"]
    port = int(s["port"])
    env = {}
    if s.get("bind"):
        env["FERRETDB_LISTEN_ADDR"] = f"{address}:{port}"
    if s.get("tls"):
        mode = s.get("tls_mode")
        if mode not in TLS_MODES:
            raise AnsibleFilterError(f"mongodb_hardening_tls_mode {mode!r}: use one of {TLS_MODES}")
        listen = address if s.get("bind") or address else "0.0.0.0"  # noqa: S104 - never without bind_address
        if mode == "requireTLS":
            env["FERRETDB_LISTEN_ADDR"] = ""
            env["FERRETDB_LISTEN_TLS"] = f"{listen}:{port}"
        else:
            env.setdefault("FERRETDB_LISTEN_ADDR", f"{listen}:{port}")
            env["FERRETDB_LISTEN_TLS"] = f"{listen}:{int(s['tls_port'])}"
        env["FERRETDB_LISTEN_TLS_CERT_FILE"] = s["tls_cert"]
        env["FERRETDB_LISTEN_TLS_KEY_FILE"] = s["tls_key"]
    return env


class FilterModule:
    def filters(self):
        return {
            "mongodb_hardening_unit_execstart": mongodb_hardening_unit_execstart,
            "mongodb_hardening_disabled_protocols": mongodb_hardening_disabled_protocols,
            "mongodb_hardening_mongod_argv": mongodb_hardening_mongod_argv,
            "mongodb_hardening_ferretdb_env": mongodb_hardening_ferretdb_env,
        }
