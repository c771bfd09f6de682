"""library/followup_upgrade_sidecar.py: the sidecar's unit and settings derived from the live ones, and what it
refuses without the verified release."""

import json

import followup_upgrade_sidecar as module
from modulekit import run_module

LIVE_UNIT = """# managed
[Unit]
Description=Follow-up system app (release in /opt/followup/app/current)

[Service]
Type=simple
User=followup
WorkingDirectory=/opt/followup/app/current
EnvironmentFile=/opt/followup/app/shared/app.env
Restart=on-failure
TimeoutStopSec=30
ProtectSystem=strict
IPAddressDeny=any
IPAddressAllow=localhost 10.89.50.11

[Install]
WantedBy=multi-user.target
"""


def test_the_sidecar_unit_runs_the_release_directory_with_its_own_settings_and_the_same_sandbox():
    text = module.sidecar_unit(LIVE_UNIT, "app", "/opt/followup/app", "1.2.0", "/usr/bin/python3 -m followup_app", 30)
    assert "WorkingDirectory=/opt/followup/app/releases/1.2.0" in text
    assert "EnvironmentFile=/opt/followup/app/shared/app-sidecar.env" in text
    assert "ExecStart=/usr/bin/python3 -m followup_app" in text
    assert "ProtectSystem=strict" in text and "IPAddressAllow=localhost 10.89.50.11" in text
    assert "Restart=no" in text and "Restart=on-failure" not in text
    assert "[Install]" not in text and "/current" not in text


def test_the_sidecar_settings_move_only_the_port():
    live = 'FOLLOWUP_LISTEN="10.89.50.12:8080"\nFOLLOWUP_MYSQL_PASSWORD="s\\"ecret"\n'
    text, listen = module.sidecar_env(live, 8180)
    assert listen == "10.89.50.12:8180"
    assert 'FOLLOWUP_LISTEN="10.89.50.12:8180"' in text and 'FOLLOWUP_MYSQL_PASSWORD="s\\"ecret"' in text


def test_without_the_action_plugin_or_with_another_tarball_it_refuses(tmp_path):
    base = tmp_path / "opt"
    release = base / "app" / "releases" / "1.2.0"
    release.mkdir(parents=True)
    (release / ".release.json").write_text(json.dumps({"sha256": "1" * 64}))
    args = {"component": "app", "version": "1.2.0", "port": 8180, "base_dir": str(base), "unit_dir": str(tmp_path)}
    assert "action plugin" in run_module(module, args)["msg"]
    args.update(start="/usr/bin/python3 -m followup_app", health={"type": "http", "path": "/health"}, sha256="2" * 64)
    assert "names another tarball" in run_module(module, args)["msg"]
    assert "not MAJOR.MINOR.PATCH" in run_module(module, dict(args, version="1.2"))["msg"]
