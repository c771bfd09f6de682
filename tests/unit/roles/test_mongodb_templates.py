"""roles/mongodb templates. mongod has no option that only checks a configuration file, so /etc/mongod.conf
is checked here: it must be YAML mongod reads, with authorization on and the inputs in the right keys.
The FerretDB pieces are checked for what must never appear in them: credentials."""

import configparser

import pytest
import yaml

PASSWORDS = {
    "mongodb_admin_password": "unit-test-only",
    "mongodb_app_password": "unit-test-only",
    "mongodb_backup_password": "unit-test-only",
}

# The top-level sections of a mongod configuration file (MongoDB manual, "Configuration File Options").
MONGOD_SECTIONS = {
    "systemLog",
    "processManagement",
    "cloud",
    "net",
    "security",
    "setParameter",
    "storage",
    "operationProfiling",
    "replication",
    "sharding",
    "auditLog",
    "snmp",
}


def mongodb(render, **overrides):
    return render("mongodb", ["Debian.yml"], **{**PASSWORDS, **overrides})


def mongod_conf(render, **overrides):
    text = mongodb(render, mongodb_engine="mongod", **overrides).template("mongod.conf.j2")
    return yaml.safe_load(text)


def test_mongod_conf_turns_authorization_on(render):
    conf = mongod_conf(render)
    assert conf["security"] == {"authorization": "enabled"}
    assert set(conf) <= MONGOD_SECTIONS


def test_mongod_conf_listens_on_loopback_and_the_input_address(render):
    conf = mongod_conf(render, mongodb_bind_address="10.89.50.22", mongodb_port=27018)
    assert conf["net"] == {"bindIp": "127.0.0.1,10.89.50.22", "port": 27018}


def test_mongod_conf_loopback_listed_once(render):
    assert mongod_conf(render)["net"]["bindIp"] == "127.0.0.1"


def test_mongod_conf_storage_and_log_paths(render):
    conf = mongod_conf(render, mongodb_mongod_dbpath="/data/mongo", mongodb_mongod_logpath="/data/log/mongod.log")
    assert conf["storage"]["dbPath"] == "/data/mongo"
    assert conf["systemLog"] == {"destination": "file", "path": "/data/log/mongod.log", "logAppend": True}


def test_mongod_conf_cache_size_only_when_set(render):
    assert "wiredTiger" not in mongod_conf(render)["storage"]
    conf = mongod_conf(render, mongodb_mongod_cache_size_gb=1.5)
    assert conf["storage"]["wiredTiger"] == {"engineConfig": {"cacheSizeGB": 1.5}}


def test_mongod_conf_extra_settings_merge_without_losing_authorization(render):
    conf = mongod_conf(
        render,
        mongodb_mongod_extra_config={"operationProfiling": {"mode": "slowOp"}, "net": {"maxIncomingConnections": 2000}},
    )
    assert conf["operationProfiling"] == {"mode": "slowOp"}
    assert conf["net"]["maxIncomingConnections"] == 2000
    assert conf["net"]["port"] == 27017
    assert conf["security"]["authorization"] == "enabled"


def test_mongod_unit_runs_the_configured_binary_as_its_account(render):
    text = mongodb(
        render, mongodb_engine="mongod", mongodb_mongod_artifacts=["mongodb-linux-x86_64-debian12-7.0.14.tgz"]
    ).template("mongod.service.j2")
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(text)
    assert unit["Service"]["ExecStart"] == "/usr/local/bin/mongod --config /etc/mongod.conf"
    assert unit["Service"]["User"] == "mongodb"


@pytest.mark.parametrize(
    ("artifacts", "binary", "unpacked"),
    [
        (
            ["mongodb-linux-x86_64-debian12-7.0.14.tgz"],
            "/usr/local/bin/mongod",
            "/opt/mongodb-linux-x86_64-debian12-7.0.14",
        ),
        (["mongodb-org-server_7.0.14_amd64.deb"], "/usr/bin/mongod", None),
    ],
)
def test_mongod_binary_follows_the_artifact_kind(render, artifacts, binary, unpacked):
    renderer = mongodb(render, mongodb_engine="mongod", mongodb_mongod_artifacts=artifacts)
    assert renderer.var("__mongodb_mongod_binary_path").strip() == binary
    if unpacked:
        assert renderer.var("__mongodb_mongod_archive_dir") == unpacked


def test_ferretdb_environment_has_no_credentials_and_no_telemetry(render):
    text = mongodb(render, mongodb_engine="ferretdb", mongodb_bind_address="10.89.50.22").template("ferretdb.env.j2")
    settings = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert settings["FERRETDB_POSTGRESQL_URL"] == "postgres://127.0.0.1:5432/ferretdb"
    assert "@" not in settings["FERRETDB_POSTGRESQL_URL"]
    assert settings["FERRETDB_LISTEN_ADDR"] == "10.89.50.22:27017"
    assert settings["FERRETDB_TELEMETRY"] == "disable"
    assert settings["FERRETDB_DEBUG_ADDR"].startswith("127.0.0.1:")
    assert not any("PASSWORD" in key for key in settings)


def test_ferretdb_unit_reads_its_settings_from_the_environment_file(render):
    text = mongodb(render, mongodb_engine="ferretdb").template("ferretdb.service.j2")
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(text)
    assert unit["Service"]["ExecStart"] == "/usr/local/bin/ferretdb"
    assert unit["Service"]["EnvironmentFile"] == "/etc/ferretdb/ferretdb.env"
    assert unit["Service"]["User"] == "ferretdb"


def test_pg_hba_admits_only_the_mongodb_accounts_over_loopback(render):
    text = mongodb(render, mongodb_engine="ferretdb").template("pg_hba.conf.j2")
    rules = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert rules[0] == ["local", "all", "postgres", "peer"]
    for rule in rules[1:]:
        kind, database, users, address, method = rule
        assert kind == "host"
        assert database == "ferretdb"
        assert users.split(",") == ["followup_admin", "cdr_app", "cdr_backup"]
        assert address in ("127.0.0.1/32", "::1/128")
        assert method == "scram-sha-256"
    assert len(rules) == 3


def test_client_auth_parameters_per_engine(render):
    auth = mongodb(render).var("__mongodb_client_auth")
    assert auth["ferretdb"] == {"mechanism": "PLAIN", "source": "cdr"}
    assert auth["mongod"] == {"mechanism": "SCRAM-SHA-256", "source": "cdr"}


@pytest.mark.parametrize(("engine", "services"), [("ferretdb", ["ferretdb", "postgresql"]), ("mongod", ["mongod"])])
def test_local_fact_names_the_units_of_the_engine(render, engine, services):
    assert mongodb(render, mongodb_engine=engine).var("__mongodb_services") == services


@pytest.mark.parametrize(("bind", "host"), [("10.89.50.22", "10.89.50.22"), ("0.0.0.0", "10.89.50.22")])  # noqa: S104
def test_local_fact_checks_the_port_on_the_address_clients_use(render, bind, host):
    renderer = mongodb(render, mongodb_bind_address=bind, mongodb_port=27018, ansible_host="10.89.50.22")
    assert renderer.var("__mongodb_checks") == [{"name": "mongodb", "type": "tcp", "host": host, "port": 27018}]


def test_placeholder_passwords_are_named_by_the_assert(render):
    renderer = mongodb(render, mongodb_app_password="CHANGE-ME")
    assert renderer.var("__mongodb_secrets | followup_bad_secrets") == ["mongodb_app_password"]
    assert mongodb(render).var("__mongodb_secrets | followup_bad_secrets") == []
