"""The hardening roles' templates, rendered with each role's defaults and vars as a play renders them, checked against
what the catalogue's checks look for (the patterns of controls/djbh-l3.yml), not against copies of the templates."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = {c["id"]: c for c in yaml.safe_load((ROOT / "controls" / "djbh-l3.yml").read_text())["controls"]}
PARAMS = yaml.safe_load((ROOT / "controls" / "djbh-l3.yml").read_text())["parameters"]
FACTS = {"os_family": "Debian", "distribution_major_version": "12", "architecture": "x86_64"}


def os_role(renderer, **inputs):
    return renderer("os_hardening", ["Debian.yml"], ansible_facts=FACTS, **inputs)


def keyvalues(text):
    pairs = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def test_pwquality_holds_the_catalogue_thresholds_and_root_too(renderer):
    text = os_role(renderer, os_hardening_password_min_length=12, os_hardening_password_min_classes=4).template(
        "pwquality.conf.j2"
    )
    assert keyvalues(text)["minlen"] == "12" and keyvalues(text)["minclass"] == "4"
    assert re.search(r"^enforce_for_root$", text, re.M)


def test_faillock_locks_root_only_when_asked(renderer):
    text = os_role(renderer).template("faillock.conf.j2")
    assert keyvalues(text)["deny"] == str(PARAMS["lockout_deny"]["default"])
    assert keyvalues(text)["unlock_time"] == str(PARAMS["lockout_unlock_time"]["default"])
    assert "even_deny_root" not in text
    text = os_role(renderer, os_hardening_lockout_even_deny_root=True).template("faillock.conf.j2")
    assert re.search(r"^even_deny_root$", text, re.M) and keyvalues(text)["root_unlock_time"] == "60"


def test_the_idle_timeout_is_set_read_only_and_exported(renderer):
    text = os_role(renderer).template("profile-tmout.sh.j2")
    assert "TMOUT=600" in text and re.search(r"^readonly TMOUT", text, re.M) and "export TMOUT" in text


def test_audit_rules_satisfy_the_catalogue_check_for_every_watch_and_exec_path(renderer):
    rules = os_role(renderer).template("audit.rules.j2")
    checks = CATALOGUE["LNX-AUD-03"]["check"]["checks"]
    watch = next(c for c in checks if c.get("each_param") == "audit_watch_paths" and "files" in c)
    execs = next(c for c in checks if c.get("each_param") == "audit_exec_paths")
    for path in PARAMS["audit_watch_paths"]["default"]:
        assert re.search(watch["each_pattern"].replace("{item}", re.escape(path)), rules, re.M), path
    for path in PARAMS["audit_exec_paths"]["default"]:
        assert re.search(execs["each_pattern"].replace("{item}", re.escape(path)), rules, re.M), path


def test_sysctl_holds_every_network_key_and_ip_forward_only_when_managed(renderer):
    text = os_role(renderer).template("sysctl.conf.j2")
    values = {
        k.strip(): v.strip()
        for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    }
    for key, accepted in PARAMS["sysctl_network"]["default"].items():
        accepted = accepted if isinstance(accepted, list) else [accepted]
        assert int(values[key]) in accepted, key
    assert "net.ipv4.ip_forward" not in values
    text = os_role(renderer, os_hardening_ip_forward_enabled=True).template("sysctl.conf.j2")
    assert "net.ipv4.ip_forward = 0" in text


def test_sudo_uses_a_pty_and_logs(renderer):
    text = os_role(renderer).template("sudoers-hardening.j2")
    assert "Defaults use_pty" in text and 'Defaults logfile="/var/log/sudo.log"' in text


def test_rsyslog_forwards_only_with_a_log_server(renderer):
    assert "omfwd" not in os_role(renderer).template("rsyslog-followup.conf.j2")
    text = os_role(renderer, os_hardening_log_remote="10.0.0.9:6514").template("rsyslog-followup.conf.j2")
    assert 'target="10.0.0.9" port="6514" protocol="tcp"' in text
    assert re.search(r"^\s*(auth,)?authpriv\.\*\s+\S+", text, re.M)


def test_pam_profiles_carry_the_history_and_the_lockout_lines(renderer):
    role = os_role(renderer)
    assert "pam_pwhistory.so remember=5 enforce_for_root use_authtok" in role.template("pam-followup-pwhistory.j2")
    assert "[default=die]\tpam_faillock.so authfail" in role.template("pam-followup-faillock.j2")
    assert "requisite\tpam_faillock.so preauth" in role.template("pam-followup-faillock-preauth.j2")
    tally = os_role(renderer, os_hardening_lockout_even_deny_root=True).template("pam-followup-tally2.j2")
    assert "pam_tally2.so onerr=fail deny=5 unlock_time=600 even_deny_root root_unlock_time=60" in tally


def sshd(renderer, version="OpenSSH_9.2p1 Debian-2", **inputs):
    probe = {"stdout": version, "stderr": ""}
    config = {
        "content": "SW5jbHVkZSAvZXRjL3NzaC9zc2hkX2NvbmZpZy5kLyouY29uZgo="
    }  # "Include /etc/ssh/sshd_config.d/*.conf"
    role = renderer(
        "ssh_hardening",
        ["Debian.yml"],
        ansible_facts=FACTS,
        __ssh_hardening_version_probe=probe,
        __ssh_hardening_config=config,
        **inputs,
    )
    return role.template("sshd-hardening.conf.j2")


def test_sshd_settings_meet_the_catalogue_and_risky_ones_wait_for_their_opt_in(renderer):
    text = sshd(renderer)
    assert "MaxAuthTries 4\n" in text and "LoginGraceTime 60\n" in text and "LogLevel VERBOSE\n" in text
    assert "ClientAliveInterval 300\n" in text and "ClientAliveCountMax 3\n" in text
    ciphers = re.search(r"^Ciphers (.*)$", text, re.M).group(1).split(",")
    assert not set(ciphers) & set(PARAMS["ssh_weak_ciphers"]["default"])
    for line in ("PermitRootLogin", "PasswordAuthentication", "AllowUsers", "AuthenticationMethods"):
        assert line not in text


def test_sshd_opt_ins(renderer):
    text = sshd(
        renderer,
        ssh_hardening_forbid_root_login_enabled=True,
        ssh_hardening_keys_only_enabled=True,
        ssh_hardening_allow_users_enabled=True,
        ssh_hardening_allow_users=["ops", "dba@10.0.0.0/24"],
    )
    assert "PermitRootLogin no\n" in text and "PasswordAuthentication no\n" in text
    assert "KbdInteractiveAuthentication no\n" in text and "ChallengeResponseAuthentication" not in text
    assert "AllowUsers ops dba@10.0.0.0/24\n" in text
    old = sshd(renderer, version="OpenSSH_7.4p1", ssh_hardening_keys_only_enabled=True)
    assert "ChallengeResponseAuthentication no" in old and "sntrup761" not in old


def test_the_ruleset_drops_by_default_and_admits_ssh_from_given_addresses_only(renderer):
    role = renderer(
        "firewall",
        [],
        ansible_facts=FACTS,
        group_names=["mysql"],
        groups={"all": ["mysql1", "app1"], "app": ["app1"], "fep": [], "mysql": ["mysql1"]},
        hostvars={"app1": {"ansible_host": "10.0.0.12"}, "mysql1": {"ansible_host": "10.0.0.21"}},
        inventory_hostname="mysql1",
        firewall_ssh_sources=["10.0.0.1"],
    )
    text = role.template("ruleset.nft.j2")
    # The catalogue check's own reading (module_utils/followup_compliance_eval.py, rule firewall).
    assert re.search(r"hook\s+input\b[^}]*?policy\s+drop", text, re.S)
    ssh_lines = [line for line in text.splitlines() if re.search(r"dport\s+\{[^}]*\b22\b", line)]
    assert ssh_lines == ["        ip saddr { 10.0.0.1 } tcp dport { 22 } accept"]
    assert "ip saddr { 10.0.0.12 } tcp dport { 3306 } accept" in text
    assert text.index("delete table inet followup_firewall") < text.index("chain input")


def test_the_mariadb_dropin_lists_the_options_of_the_server_it_is_for(renderer):
    facts = dict(
        FACTS,
        ansible_local={"mysql": {"flavour": "mariadb", "version": "10.11.19", "socket": "/run/mysqld/mysqld.sock"}},
    )
    role = renderer(
        "mysql_hardening", ["Debian-mariadb.yml"], ansible_facts=facts, mysql_hardening_require_tls_enabled=True
    )
    text = role.template("hardening.cnf.j2")
    assert text.splitlines()[text.splitlines().index("[mysqld]") + 1].startswith(
        "plugin_load_add = simple_password_check"
    )
    assert "server_audit = FORCE_PLUS_PERMANENT" in text and "require_secure_transport = ON" in text
    assert "ssl_cert = /etc/mysql/followup-tls/server.crt" in text


def test_the_ferretdb_listener_file_turns_plain_text_off_with_tls(renderer):
    facts = dict(FACTS, ansible_local={"mongodb": {"engine": "ferretdb", "port": 27017, "bind_address": "10.0.0.22"}})
    role = renderer(
        "mongodb_hardening", [], ansible_facts=facts, mongodb_hardening_tls_enabled=True,
        mongodb_hardening_bind_enabled=True, mongodb_hardening_bind_address="10.0.0.22",
    )  # fmt: skip
    values = keyvalues(role.template("ferretdb-hardening.env.j2"))
    assert values["FERRETDB_LISTEN_ADDR"] == "" and values["FERRETDB_LISTEN_TLS"] == "10.0.0.22:27017"


def fep(renderer, **inputs):
    return renderer(
        "followup_fep",
        [],
        followup_fep_app_upstreams=["10.0.0.12:8080"],
        followup_fep_address="10.0.0.11",
        ansible_host="10.0.0.11",
        **inputs,
    ).template("nginx.conf.j2")


def test_nginx_admits_only_the_listed_clients_and_the_host_itself(renderer):
    assert "deny all;" not in fep(renderer)
    text = fep(renderer, followup_fep_allowed_clients=["192.0.2.50", "198.51.100.0/24"])
    https = text[text.index("ssl default_server") :]
    allows = re.findall(r"^\s*allow (\S+);", https, re.M)
    assert allows == ["127.0.0.1", "::1", "10.0.0.11", "192.0.2.50", "198.51.100.0/24"]
    assert https.index("deny all;") > https.index("allow 198.51.100.0/24;")
    assert "server_tokens off;" in text
    for header in PARAMS["nginx_security_headers"]["default"]:
        assert f"add_header {header} " in https


def test_nginx_client_certificates_spare_the_hosts_own_health_check(renderer):
    text = fep(renderer, followup_fep_client_cert_enabled=True, followup_fep_client_ca_content="PEM")
    assert "ssl_verify_client optional;" in text and "ssl_client_certificate /etc/nginx/tls/client-ca.crt;" in text
    assert "if ($ssl_client_verify != SUCCESS)" in text
    health = text[text.index("location = /health") : text.index("location / {")]
    assert "allow 127.0.0.1;" in health and "deny all;" in health and "ssl_client_verify" not in health
