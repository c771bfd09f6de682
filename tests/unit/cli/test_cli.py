"""The command line: every command has --help, bad input gives one line and exit 1 before anything runs."""

import subprocess
import sys

import pytest

from followup_ops import cli, inventory
from followup_ops.errors import OpsError

COMMANDS = [
    [],
    ["lab"],
    ["lab", "up"],
    ["lab", "down"],
    ["lab", "status"],
    ["lab", "image"],
    ["lab", "seed"],
    ["lab", "smoke"],
    ["compliance"],
    ["compliance", "validate"],
    ["compliance", "schedule"],
    ["deploy"],
    ["migrations"],
    ["migrations", "status"],
    ["migrations", "repair"],
    ["status"],
    ["backup"],
    ["backup", "list"],
    ["backup", "drill"],
    ["restore"],
    ["inspect"],
    ["fault"],
    ["fault", "open"],
    ["fault", "update"],
    ["fault", "close"],
    ["fault", "list"],
    ["report"],
    ["report", "quarterly"],
    ["schema"],
    ["schema", "doc"],
    ["schema", "diff"],
    ["db"],
    ["db", "optimize"],
    ["approval"],
    ["approval", "new"],
    ["approval", "sign"],
    ["approval", "verify"],
    ["approval", "show"],
    ["upgrade"],
    ["rehearse"],
    ["migrate"],
    ["migrate", "db"],
    ["migrate", "list"],
]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "top")
def test_every_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([*words, "--help"])
    assert caught.value.code == 0
    assert "usage: followup-ops" in capsys.readouterr().out


def test_unknown_inventory_is_one_line_exit_1(capsys):
    code = cli.main(["deploy", "-i", "inventories/nowhere", "--release", "1.0.0"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "inventory 'inventories/nowhere' not found" in err and "inventories/lab" in err


def test_production_inventory_without_vault_password_is_refused(monkeypatch, capsys):
    monkeypatch.delenv(inventory.VAULT_ENV, raising=False)
    code = cli.main(["status", "-i", "inventories/production"])
    err = capsys.readouterr().err
    assert code == 1 and "has vault-encrypted files but no vault password was given" in err


def test_a_vault_password_file_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(OpsError, match="does not exist"):
        inventory.vault_password_file(inventory.resolve("production"), str(tmp_path / "nope"))


def test_inventory_names_resolve_to_directories():
    assert inventory.resolve("lab").name == "lab"
    assert inventory.resolve("inventories/production").name == "production"


def test_seed_scale_out_of_range_is_refused_with_exit_1(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["lab", "seed", "--scale", "1000"])
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.count("\n") == 1 and "--scale must be from 1 to 100" in err


def test_a_missing_required_option_is_exit_1_not_2(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["deploy", "-i", "inventories/lab"])
    assert caught.value.code == 1 and "--release" in capsys.readouterr().err


def test_the_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "followup_ops", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("followup-ops ")


def test_report_commands_refuse_bad_arguments_with_one_line_exit_1(capsys):
    for words, words_err in (
        (["inspect", "-i", "inventories/lab", "--on-calendar"], "expected one argument"),
        (["fault", "open", "-i", "inventories/lab", "--host", "app1"], "the following arguments are required"),
        (
            [
                "fault",
                "open",
                "-i",
                "inventories/lab",
                "--host",
                "app1",
                "--component",
                "printer",
                "--symptom",
                "x",
                "--impact",
                "y",
            ],
            "invalid choice: 'printer'",
        ),
        (["report", "quarterly", "-i", "inventories/lab"], "--quarter"),
        (["schema", "diff", "1.0.0"], "the following arguments are required"),
        (["db", "optimize", "-i", "inventories/lab"], "--window"),
    ):
        with pytest.raises(SystemExit) as caught:
            cli.main(words)
        err = capsys.readouterr().err
        assert caught.value.code == 1 and err.count("\n") == 1 and words_err in err, (words, err)


@pytest.mark.parametrize(
    "words, expected",
    [
        (["restore", "-i", "inventories/lab", "--backup", "latest"], "is not a backup id such as"),
        (["restore", "-i", "inventories/lab", "--db", "mysql", "--until", "yesterday"], "is not a time such as"),
        (["restore", "-i", "inventories/lab", "--db", "mysql", "--until", "2026-12-01T20:30:00"], "has no time zone"),
        (["backup", "-i", "inventories/lab", "--db", "oracle"], "invalid choice: 'oracle'"),
        (["backup", "drill", "-i", "inventories/lab", "--backup", "x"], "is not a backup id such as"),
    ],
)
def test_bad_backup_and_restore_arguments_are_one_line_exit_1(words, expected, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(words)
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.count("\n") == 1 and expected in err


def test_backup_without_an_inventory_is_one_line_exit_1(capsys):
    code = cli.main(["backup"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "backup needs an inventory" in err


def test_restore_without_backup_or_db_is_one_line_exit_1(capsys):
    code = cli.main(["restore", "-i", "inventories/lab"])
    err = capsys.readouterr().err
    assert code == 1 and "restore needs --backup ID" in err


@pytest.mark.parametrize(
    "words, expected",
    [
        (["upgrade", "-i", "inventories/lab"], "the following arguments are required: --approval"),
        (["approval", "new", "-i", "inventories/lab", "--from", "1.0.0"], "the following arguments are required"),
        (["approval", "sign", "approval.yml"], "the following arguments are required: --key"),
        (["approval", "verify", "approval.yml"], "the following arguments are required: -i/--inventory"),
        (["rehearse", "-i", "inventories/lab"], "the following arguments are required"),
        (["rehearse", "-i", "inventories/lab", "--release", "1.2.0", "--from", "1.0.0", "--scale", "0"], "--scale"),
        # Every host moves together: a narrowed upgrade would leave the others on the old release.
        (["upgrade", "-i", "inventories/lab", "--approval", "a.yml", "--limit", "app1"], "unrecognized arguments"),
        (
            ["rehearse", "-i", "inventories/lab", "--release", "1.2.0", "--from", "1.0.0", "--limit", "app"],
            "unrecognized",
        ),
    ],
)
def test_bad_upgrade_and_approval_arguments_are_one_line_exit_1(words, expected, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(words)
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.count("\n") == 1 and expected in err, err


def test_an_approval_that_does_not_exist_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path))
    code = cli.main(["approval", "show", str(tmp_path / "nowhere.yml")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err


@pytest.mark.parametrize(
    "words, expected",
    [
        (["migrate", "db", "-i", "inventories/lab", "--engine", "mysql"], "the following arguments are required: --to"),
        (
            ["migrate", "db", "-i", "inventories/lab", "--engine", "oracle", "--to", "mysql2"],
            "invalid choice: 'oracle'",
        ),
        (["migrate", "server", "-i", "inventories/lab", "--to", "app2"], "required: --component"),
    ],
)
def test_bad_migrate_arguments_are_one_line_exit_1(words, expected, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(words)
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.count("\n") == 1 and expected in err


@pytest.mark.parametrize(
    "phase, expected",
    [
        ("bogus", "--phase: unknown phase 'bogus'"),
        ("rollback,cutover", "rollback runs on its own"),
    ],
)
def test_bad_migrate_phases_are_one_line_exit_1_before_any_host(phase, expected, capsys):
    code = cli.main(["migrate", "db", "-i", "inventories/lab", "--engine", "mysql", "--to", "mysql2", "--phase", phase])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and expected in err
