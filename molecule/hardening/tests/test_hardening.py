"""Behaviour of the hardened hosts, tested from this control node over the network and on the hosts themselves.

Not file contents alone: root and password logins are refused by the real sshd, a weak password is refused by PAM
and by MariaDB, failed logins lock the account, an idle login shell ends by itself, the database refuses a client
without TLS, FerretDB talks TLS only, and the firewall drops a port no peer needs while the control node's SSH and the
app's MySQL connection pass.
"""

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
INPUTS = yaml.safe_load((SCENARIO / "group_vars" / "all.yml").read_text())
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
APP, MYSQL, MONGO = "10.89.75.12", "10.89.75.21", "10.89.75.22"
PASSWORD = INPUTS["molecule_hardening_test_password"]


ADDRESSES = {"app": APP, "mysql": MYSQL, "mongo": MONGO}


def remote(name):
    """The host over SSH as ops, with the scenario's key and pinned host keys (testinfra's ansible backend would read
    the inventory's connection settings untemplated)."""
    import testinfra

    return testinfra.get_host(
        f"ssh://ops@{ADDRESSES[name]}",
        ssh_identity_file=str(EPHEMERAL / "ops_key"),
        ssh_extra_args=f"-o UserKnownHostsFile={EPHEMERAL / 'known_hosts'} -o StrictHostKeyChecking=yes",
    )


@pytest.fixture(scope="module")
def host():
    """The application host (os_hardening, ssh_hardening, firewall)."""
    return remote("app")


def ssh(user, address, *command, extra=()):
    """A fresh SSH login from this control node (no multiplexing), as the hardening roles' probe makes it."""
    argv = [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "ControlPath=none",
        "-o", "ConnectTimeout=5",
        "-o", f"UserKnownHostsFile={EPHEMERAL / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes",
        "-i", str(EPHEMERAL / "ops_key"),
        *extra,
        f"{user}@{address}",
        *command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def connects(address, port, timeout=3.0):
    """'open', 'refused' (RST: nothing listens) or 'dropped' (no answer: a firewall drop)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "dropped"


# --- SSH -----------------------------------------------------------------------------------------------------------
def test_the_ops_account_still_logs_in_with_its_key_and_becomes_root():
    result = ssh("ops", APP, "sudo", "-n", "id", "-u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_root_login_is_refused_although_root_has_the_key_and_is_allowed_by_name(host):
    with host.sudo():
        assert host.file("/root/.ssh/authorized_keys").exists
    result = ssh("root", APP, "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert "permitrootlogin no" in host.check_output("sudo sshd -T").splitlines()


def test_password_login_is_not_offered_at_all():
    result = ssh(
        "hdtest",
        APP,
        "true",
        extra=("-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"),
    )
    assert result.returncode == 255
    # The server lists the methods it still accepts: only publickey.
    assert "Permission denied (publickey)" in result.stderr


def test_sshd_offers_no_weak_algorithm(host):
    settings = dict(line.split(" ", 1) for line in host.check_output("sudo sshd -T").splitlines() if " " in line)
    assert not set(settings["ciphers"].split(",")) & set(INPUTS.get("ssh_hardening_weak_ciphers", ["aes128-cbc"]))
    assert "hmac-sha1" not in settings["macs"].split(",")
    assert "diffie-hellman-group14-sha1" not in settings["kexalgorithms"].split(",")
    assert settings["maxauthtries"] == "4"
    assert settings["loglevel"] == "VERBOSE"


# --- PAM, passwords, lockout, idle shells -----------------------------------------------------------------------------
# A minimal PAM client (ctypes, libpam): authenticates USER against the service file it writes, which includes the
# common stacks os_hardening manages. The password comes from the environment, never from the command line.
PAM_CLIENT = r"""
import ctypes, ctypes.util, os, sys
pam = ctypes.CDLL(ctypes.util.find_library("pam"))
class Message(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]
class Response(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_char_p), ("resp_retcode", ctypes.c_int)]
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(Message)),
                        ctypes.POINTER(ctypes.POINTER(Response)), ctypes.c_void_p)
class Conversation(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.calloc.restype = ctypes.c_void_p
libc.strdup.restype = ctypes.c_void_p
password = os.environ["HD_PASSWORD"].encode()
def answer(n, messages, responses, data):
    block = libc.calloc(n, ctypes.sizeof(Response))
    responses[0] = ctypes.cast(block, ctypes.POINTER(Response))
    for i in range(n):
        if messages[i].contents.msg_style in (1, 2):
            responses[0][i].resp = ctypes.cast(libc.strdup(password), ctypes.c_char_p)
    return 0
handle = ctypes.c_void_p()
conversation = Conversation(CONV(answer), None)
rc = pam.pam_start(b"hdtest-login", sys.argv[1].encode(), ctypes.byref(conversation), ctypes.byref(handle))
rc = rc or pam.pam_authenticate(handle, 0)
rc = rc or pam.pam_acct_mgmt(handle, 0)
print(rc)
"""


@pytest.fixture(scope="module")
def pam_client(host):
    with host.sudo():
        host.check_output("printf '@include common-auth\\n@include common-account\\n' > /etc/pam.d/hdtest-login")
        host.check_output(f"cat > /root/hd_pam.py <<'EOF'\n{PAM_CLIENT}\nEOF")
    yield
    with host.sudo():
        host.run("rm -f /etc/pam.d/hdtest-login /root/hd_pam.py; faillock --user hdtest --reset")


def pam_login(host, user, password):
    """PAM's result for USER with PASSWORD through the common stacks: 0 success, other values are PAM errors."""
    with host.sudo():
        out = host.check_output(f"HD_PASSWORD={password!r} python3 /root/hd_pam.py {user}")
    return int(out.strip().splitlines()[-1])


def test_repeated_failed_logins_lock_the_account(host, pam_client):
    with host.sudo():
        host.check_output("faillock --user hdtest --reset")
    assert pam_login(host, "hdtest", PASSWORD) == 0
    deny = INPUTS["os_hardening_lockout_deny"]
    for _ in range(deny):
        assert pam_login(host, "hdtest", "not-the-password") != 0
    # The right password no longer gets in: the account is locked.
    assert pam_login(host, "hdtest", PASSWORD) != 0
    with host.sudo():
        # faillock lists one line per recorded failure ("V" valid) below its header.
        records = [line for line in host.check_output("faillock --user hdtest").splitlines() if " V" in line]
        assert len(records) >= deny
        host.check_output("faillock --user hdtest --reset")
    assert pam_login(host, "hdtest", PASSWORD) == 0


def test_a_weak_password_is_refused_and_a_strong_one_accepted_once(host):
    with host.sudo():
        host.check_output("id hdweak || useradd -m hdweak")
        try:
            weak = host.run("echo 'hdweak:abc123' | chpasswd")
            assert weak.rc != 0
            assert "BAD PASSWORD" in weak.stderr
            # A new one each run: the history (/etc/security/opasswd) outlives the account.
            strong_password = f"Vx7#kLq2-{secrets.token_hex(4)}"
            strong = host.run(f"echo 'hdweak:{strong_password}' | chpasswd")
            assert strong.rc == 0, strong.stderr
            # The same password again is refused by the password history (pam_pwhistory remember).
            again = host.run(f"echo 'hdweak:{strong_password}' | chpasswd")
            assert again.rc != 0
        finally:
            host.run("userdel -r hdweak")


IDLE_SHELL = r"""
import os, pty, sys, time
started = time.monotonic()
pid, fd = pty.fork()
if pid == 0:
    os.execvp("runuser", ["runuser", "-l", "hdtest"])
out = b""
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
os.waitpid(pid, 0)
print(round(time.monotonic() - started, 1))
print(out.decode(errors="replace"))
"""


def test_an_idle_login_shell_ends_by_itself(host):
    with host.sudo():
        out = host.check_output(f"timeout 30 python3 - <<'EOF'\n{IDLE_SHELL}\nEOF")
    elapsed = float(out.splitlines()[0])
    timeout = INPUTS["os_hardening_shell_idle_timeout"]
    assert timeout <= elapsed < timeout + 10
    assert "auto-logout" in out


def test_the_idle_timeout_cannot_be_lifted(host):
    with host.sudo():
        result = host.run("runuser -l hdtest -c 'TMOUT=0; echo lifted'")
    assert "readonly variable" in result.stderr
    assert "lifted" not in result.stdout


# --- Accounts, files, audit and kernel settings (configured; the kernel parts cannot run in a container) -------------
def test_system_accounts_lost_their_shell_and_files_their_extra_permissions(host):
    assert host.user("daemon").shell == "/usr/sbin/nologin"
    assert host.file("/etc/crontab").mode == 0o600
    assert host.file("/etc/shadow").mode & 0o007 == 0


def test_audit_is_configured_and_cannot_be_stopped_by_hand_but_does_not_run_in_a_container(host):
    with host.sudo():
        rules = host.file("/etc/audit/rules.d/60-followup.rules").content_string
    assert "-w /etc/shadow -p wa" in rules
    assert "-w /usr/sbin/useradd -p x" in rules
    assert host.check_output("systemctl show auditd -p RefuseManualStop") == "RefuseManualStop=yes"
    fact = host.file("/etc/ansible/facts.d/os_hardening.fact").content_string
    assert '"running": false' in fact
    assert "container" in fact


def test_the_sysctl_file_is_written_for_the_host_it_will_run_on(host):
    text = host.file("/etc/sysctl.d/60-followup-hardening.conf").content_string
    assert "net.ipv4.ip_forward = 0" in text
    assert "net.ipv4.tcp_syncookies = 1" in text


def test_aide_has_a_database_and_a_daily_check(host):
    with host.sudo():
        assert host.file("/var/lib/aide/aide.db").exists
    assert host.service("dailyaidecheck.timer").is_enabled


# --- Firewall ------------------------------------------------------------------------------------------------------
@pytest.fixture
def stray_listener(host):
    with host.sudo():
        host.run("systemctl stop hd-listen 2>/dev/null; systemd-run --unit hd-listen python3 -m http.server 9999")
    for _ in range(20):
        if host.socket("tcp://0.0.0.0:9999").is_listening:
            break
        time.sleep(0.5)
    yield
    with host.sudo():
        host.run("systemctl stop hd-listen")


def test_the_firewall_drops_a_port_no_peer_needs(host, stray_listener):
    # Something listens on every address, but only the host itself reaches it.
    assert connects(APP, 9999) == "dropped"
    assert host.run("python3 -c \"import socket; socket.create_connection(('10.89.75.12', 9999), 3)\"").rc == 0


def test_the_database_port_is_open_to_the_app_only():
    assert connects(MYSQL, 3306) == "dropped"
    app = remote("app")
    probe = "import socket; socket.create_connection(('10.89.75.21', 3306), 3); print('open')"
    assert app.check_output(f'python3 -c "{probe}"') == "open"


# --- MySQL ---------------------------------------------------------------------------------------------------------
def mysql_root(sql):
    db = remote("mysql")
    with db.sudo():
        return db.run(f'mariadb -N -B -e "{sql}"')


def test_the_database_refuses_a_weak_password():
    result = mysql_root("CREATE USER 'hdweak'@'localhost' IDENTIFIED BY 'abc'")
    assert result.rc != 0
    assert "1819" in result.stderr or "password" in result.stderr.lower()
    assert mysql_root("SELECT COUNT(*) FROM mysql.user WHERE User='hdweak'").stdout.strip() == "0"


def test_the_audit_plugin_is_permanent_and_records_connections():
    load = mysql_root("SELECT LOAD_OPTION FROM information_schema.PLUGINS WHERE PLUGIN_NAME='SERVER_AUDIT'")
    assert load.stdout.strip() == "FORCE_PLUS_PERMANENT"
    db = remote("mysql")
    with db.sudo():
        assert "CONNECT" in db.file("/var/log/mysql/server_audit.log").content_string


@pytest.fixture(scope="module")
def app_client():
    """A client option file on the app host (the password never on a command line) and the server's CA."""
    app = remote("app")
    ca = (EPHEMERAL / "molecule-hardening-mysql-mysql-ca.crt").read_text()
    with app.sudo():
        app.check_output(f"cat > /root/hd-mysql-ca.crt <<'EOF'\n{ca}EOF")
        app.check_output(
            "umask 077; printf '[client]\\nuser=followup_app\\npassword=\"%s\"\\nhost=10.89.75.21\\n' "
            f"'{INPUTS['mysql_app_password']}' > /root/hd-client.cnf"
        )
    yield app
    with app.sudo():
        app.run("rm -f /root/hd-client.cnf /root/hd-mysql-ca.crt")
    # The refused plain-text login counts towards max_password_errors: clear the count.
    mysql_root("FLUSH PRIVILEGES")


def test_the_database_refuses_a_client_without_tls_and_serves_one_with_it(app_client):
    with app_client.sudo():
        plain = app_client.run("mariadb --defaults-extra-file=/root/hd-client.cnf --skip-ssl -N -e 'SELECT 1'")
        tls = app_client.run(
            "mariadb --defaults-extra-file=/root/hd-client.cnf --ssl --ssl-ca=/root/hd-mysql-ca.crt "
            "--ssl-verify-server-cert -N -e \"SHOW STATUS LIKE 'Ssl_version'\""
        )
    # MariaDB 10.11 answers a plain-text login under require_secure_transport with "access denied" (1045); the same
    # account and password get in over TLS.
    assert plain.rc != 0
    assert "insecure transport" in plain.stderr.lower() or "1045" in plain.stderr
    assert tls.rc == 0, tls.stderr
    assert tls.stdout.split()[-1] in ("TLSv1.2", "TLSv1.3")


# --- MongoDB (FerretDB) --------------------------------------------------------------------------------------------
def mongo_client(tls):
    from pymongo import MongoClient

    options = {"serverSelectionTimeoutMS": 4000, "authSource": "cdr", "authMechanism": "PLAIN"}
    if tls:
        options.update(tls=True, tlsCAFile=str(EPHEMERAL / "molecule-hardening-mongo-mongodb-ca.crt"))
    return MongoClient(host=MONGO, port=27017, username="cdr_app", password=INPUTS["mongodb_app_password"], **options)


def test_ferretdb_speaks_tls_only():
    from pymongo.errors import PyMongoError

    with pytest.raises(PyMongoError):
        mongo_client(tls=False)["cdr"].command("ping")
    assert mongo_client(tls=True)["cdr"].command("ping")["ok"] == 1.0
