"""The one-round-trip modules of os_hardening (roles/os_hardening/library), run in-process on temporary files."""

import grp
import os
import pwd
import stat

import followup_config_keys
import followup_file_modes
import followup_files
import followup_os_accounts
import pytest
from ansible.module_utils import basic
from modulekit import run_module

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name

LOGIN_DEFS = """# login.defs
#PASS_MAX_DAYS	1
PASS_MAX_DAYS	99999
PASS_MIN_DAYS	0
UMASK		022
UMASK	077
"""


# --- followup_config_keys -----------------------------------------------------------------------
def test_config_keys_change_the_first_line_comment_later_duplicates_and_append_missing(tmp_path):
    path = tmp_path / "login.defs"
    path.write_text(LOGIN_DEFS)
    settings = {"PASS_MAX_DAYS": 90, "UMASK": "027", "ENCRYPT_METHOD": "SHA512"}
    result = run_module(followup_config_keys, {"path": str(path), "style": "space", "settings": settings})
    text = path.read_text()
    assert result["changed"] and result["changed_keys"] == ["ENCRYPT_METHOD", "PASS_MAX_DAYS", "UMASK"]
    assert "PASS_MAX_DAYS\t90\n" in text and "#PASS_MAX_DAYS\t1\n" in text
    assert "UMASK\t027\n" in text and "# UMASK\t077  # superseded (followup-ops)" in text
    assert text.endswith("ENCRYPT_METHOD\tSHA512\n")
    again = run_module(followup_config_keys, {"path": str(path), "style": "space", "settings": settings})
    assert not again["changed"]


def test_config_keys_insert_after_the_commented_key(tmp_path):
    path = tmp_path / "auditd.conf"
    path.write_text("log_file = /var/log/audit/audit.log\n#num_logs = 5\nflush = INCREMENTAL_ASYNC\n")
    run_module(followup_config_keys, {"path": str(path), "style": "spaced_equals", "settings": {"num_logs": 10}})
    assert path.read_text().splitlines()[1:3] == ["#num_logs = 5", "num_logs = 10"]


def test_config_keys_check_mode_and_diff_change_nothing(tmp_path):
    path = tmp_path / "useradd"
    path.write_text("INACTIVE=-1\n")
    result = run_module(
        followup_config_keys,
        {"path": str(path), "style": "equals", "settings": {"INACTIVE": 30}},
        check_mode=True,
        diff=True,
    )
    assert result["changed"] and result["diff"]["after"] == "INACTIVE=30\n"
    assert path.read_text() == "INACTIVE=-1\n"


def test_config_keys_edits_several_files_and_skip_optional_missing_ones(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("X=1\n")
    result = run_module(
        followup_config_keys,
        {
            "edits": [
                {"path": str(a), "style": "equals", "settings": {"X": 2}},
                {"path": str(b), "style": "equals", "settings": {"Y": 1}, "optional": True},
            ]
        },
    )
    assert result["changed_keys"] == [f"{a}:X"] and result["skipped"] == [str(b)]
    assert a.read_text() == "X=2\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"style": "space", "settings": {"K": True}}, "is a boolean"),
        ({"style": "space", "settings": {"K": "a\nb"}}, "line break"),
    ],
)
def test_config_keys_refuse_values_in_one_line(tmp_path, args, message):
    path = tmp_path / "f"
    path.write_text("")
    result = run_module(followup_config_keys, dict(args, path=str(path)))
    assert result["failed"] and message in result["msg"] and str(path) in result["msg"]


def test_config_keys_refuse_a_missing_file_with_the_fix(tmp_path):
    result = run_module(followup_config_keys, {"path": str(tmp_path / "no"), "style": "space", "settings": {"A": 1}})
    assert result["failed"] and "does not exist: install the package" in result["msg"]


# --- followup_file_modes -----------------------------------------------------------------------
def test_file_modes_take_permissions_away_and_never_add_them(tmp_path):
    loose, strict = tmp_path / "loose", tmp_path / "strict"
    loose.write_text("x")
    strict.write_text("x")
    loose.chmod(0o666)
    strict.chmod(0o600)
    files = {str(loose): {"mode": "0640"}, str(strict): {"mode": "0644"}, str(tmp_path / "gone"): {"mode": "0600"}}
    result = run_module(followup_file_modes, {"files": files})
    assert stat.S_IMODE(loose.stat().st_mode) == 0o640
    assert stat.S_IMODE(strict.stat().st_mode) == 0o600
    assert result["changed_files"] == [{"mode": ["0666", "0640"], "path": str(loose)}]
    assert result["missing"] == [str(tmp_path / "gone")]
    assert not run_module(followup_file_modes, {"files": files})["changed"]


def test_file_modes_expand_globs_and_leave_links_alone(tmp_path):
    for name in ("audit.log", "audit.log.1"):
        (tmp_path / name).write_text("x")
        (tmp_path / name).chmod(0o644)
    (tmp_path / "link").symlink_to(tmp_path / "audit.log")
    result = run_module(
        followup_file_modes,
        {"files": {str(tmp_path / "audit.log*"): {"mode": "0600"}, str(tmp_path / "link"): {"mode": "0600"}}},
    )
    assert sorted(c["path"] for c in result["changed_files"]) == [
        str(tmp_path / "audit.log"),
        str(tmp_path / "audit.log.1"),
    ]
    assert result["links"] == [str(tmp_path / "link")]


def test_file_modes_accept_any_of_the_groups_listed(tmp_path):
    path = tmp_path / "shadow"
    path.write_text("x")
    path.chmod(0o640)
    result = run_module(
        followup_file_modes, {"files": {str(path): {"mode": "0640", "group": ["nosuchgroup", MY_GROUP]}}}
    )
    assert not result.get("failed") and not result["changed"]


def test_file_modes_refuse_unknown_owners_and_bad_modes(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    bad_owner = run_module(followup_file_modes, {"files": {str(path): {"mode": "0640", "owner": "no-such-user-hd"}}})
    assert bad_owner["failed"] and "is not a user on this host" in bad_owner["msg"]
    bad_mode = run_module(followup_file_modes, {"files": {str(path): {"mode": "rw-r"}}})
    assert bad_mode["failed"] and "is not an octal mode" in bad_mode["msg"]


def test_file_modes_check_mode_changes_nothing(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o666)
    result = run_module(followup_file_modes, {"files": {str(path): {"mode": "0600"}}}, check_mode=True)
    assert result["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o666


# --- followup_files -----------------------------------------------------------------------
def entry(path, content, **extra):
    return dict({"dest": str(path), "content": content, "mode": "0640", "owner": ME, "group": MY_GROUP}, **extra)


def test_files_write_only_what_differs(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    b.write_text("same\n")
    b.chmod(0o640)
    args = {"directories": [{"path": str(tmp_path / "d"), "mode": "0750", "owner": ME, "group": MY_GROUP}],
            "files": [entry(a, "new\n"), entry(b, "same\n")]}  # fmt: skip
    result = run_module(followup_files, args)
    assert result["changed_files"] == [str(tmp_path / "d"), str(a)]
    assert a.read_text() == "new\n" and stat.S_IMODE(a.stat().st_mode) == 0o640
    assert run_module(followup_files, args)["changed_files"] == []


def test_files_refused_by_their_checker_leave_the_old_file(tmp_path):
    path = tmp_path / "profile.sh"
    path.write_text("echo ok\n")
    path.chmod(0o640)
    result = run_module(followup_files, {"files": [entry(path, "if then fi (\n", validate="/bin/sh -n %s")]})
    assert result["failed"] and "refused the new content" in result["msg"]
    assert path.read_text() == "echo ok\n"
    assert [p.name for p in tmp_path.iterdir()] == ["profile.sh"]  # no temporary file left behind


def test_files_remove_what_is_absent(tmp_path):
    path = tmp_path / "old.rules"
    path.write_text("-e 2\n")
    result = run_module(followup_files, {"files": [{"dest": str(path), "state": "absent", "mode": "0640"}]})
    assert result["changed_files"] == [str(path)] and not path.exists()


def test_files_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "a"
    result = run_module(followup_files, {"files": [entry(path, "x")]}, check_mode=True, diff=True)
    assert result["changed"] and not path.exists()
    assert result["diff"][0]["after"] == "x"


# --- followup_os_accounts -----------------------------------------------------------------------
PASSWD = """root:x:0:0:root:/root:/bin/bash
toor:x:0:0::/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
postgres:x:105:108::/var/lib/postgresql:/bin/bash
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
ops:x:1000:1000::/home/ops:/bin/bash
alice:x:1001:1001::/home/alice:/bin/bash
bob:x:1002:1002::/home/bob:/bin/bash
svc:x:1003:1003::/home/svc:/bin/bash
"""
SHADOW = """root:$y$secret-hash-root:19000:0:99999:7:::
toor:!:19000::::::
daemon:*:19000::::::
postgres:*:19000::::::
sync:*:19000::::::
games:$6$games-hash:19000::::::
ops:!:19000::::::
alice:$6$alice-hash:19000:0:99999:7:::
bob::19000:0:99999:7:::
svc:$6$svc-hash:19000:0:30:7:::
"""


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "shadow").write_text(SHADOW)
    (tmp_path / "login.defs").write_text("UID_MIN 1000\nUID_MAX 60000\n")
    ran = []

    def fake_run(self, argv, **_kwargs):
        ran.append(argv)
        return 0, "", ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake_run)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: f"/usr/sbin/{name}")

    def run(check_mode=False, **params):
        args = {
            "passwd_file": str(tmp_path / "passwd"),
            "shadow_file": str(tmp_path / "shadow"),
            "login_defs": str(tmp_path / "login.defs"),
        }
        args.update(params)
        return run_module(followup_os_accounts, args, check_mode=check_mode, diff=True), ran

    return run


def test_accounts_lock_empty_passwords_and_default_accounts_and_take_system_shells(accounts):
    result, ran = accounts(system_shell="/usr/sbin/nologin", lock_accounts=["games", "sync"])
    assert result["extra_uid0"] == ["toor"]
    assert result["locked"] == ["games", "bob"]
    assert result["shells"] == [{"user": "postgres", "before": "/bin/bash", "after": "/usr/sbin/nologin"}]
    assert ["/usr/sbin/usermod", "-L", "bob"] in ran and ["/usr/sbin/usermod", "-L", "games"] in ran
    assert ["/usr/sbin/usermod", "-s", "/usr/sbin/nologin", "postgres"] in ran
    assert result["interactive"] == ["ops", "alice", "bob", "svc"]


def test_accounts_never_return_or_log_a_password_hash(accounts):
    result, _ran = accounts(system_shell="/usr/sbin/nologin", max_days=90)
    text = repr(result)
    for marker in ("secret-hash-root", "alice-hash", "games-hash", "svc-hash", "$6$", "$y$"):
        assert marker not in text


def test_accounts_expire_only_usable_interactive_passwords_and_never_loosen(accounts):
    result, ran = accounts(max_days=90, max_days_exclude=["alice"])
    # ops is key-only (!), bob was empty (locked now), alice is exempt, svc already has 30 (stricter).
    assert result["max_days_set"] == []
    result, ran = accounts(max_days=90)
    assert result["max_days_set"] == [{"user": "alice", "before": "99999", "after": 90}]
    assert ["/usr/sbin/chage", "-M", "90", "alice"] in ran


def test_accounts_keep_the_shells_of_listed_system_accounts(accounts):
    result, _ran = accounts(system_shell="/usr/sbin/nologin", system_shell_exceptions=["root", "postgres"])
    assert result["shells"] == []


def test_accounts_check_mode_runs_no_command(accounts):
    result, ran = accounts(check_mode=True, system_shell="/usr/sbin/nologin")
    assert result["changed"] and ran == []
    assert "usermod -L bob" in result["diff"]["after"]


def test_accounts_not_in_the_declared_inventory_lose_their_shell_only_when_asked(accounts):
    result, ran = accounts(declared=["root", "ops", "alice"])
    assert result["undeclared"] == ["postgres", "bob", "svc"] and ran == [["/usr/sbin/usermod", "-L", "bob"]]
    result, ran = accounts(declared=["root", "ops", "alice"], undeclared_shell="/usr/sbin/nologin")
    assert {s["user"] for s in result["shells"]} == {"postgres", "bob", "svc"}
    assert ["/usr/sbin/usermod", "-L", "svc"] in ran and ["/usr/sbin/usermod", "-s", "/usr/sbin/nologin", "svc"] in ran
    # root, with uid 0, is never one of them; toor is left to a person (extra_uid0).
    assert "toor" not in result["undeclared"]
