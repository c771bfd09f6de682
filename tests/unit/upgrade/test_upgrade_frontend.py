"""module_utils/followup_upgrade_nginx.py and library/followup_upgrade_frontend.py: the files nginx includes for
the upstreams and the maintenance answer, checked with nginx -t (a stand-in here) and put back when it refuses."""

import os
import stat

import followup_upgrade_frontend as module
import pytest
from ansible.module_utils import followup_upgrade_nginx as nginx
from modulekit import run_module


def test_upstreams_are_checked_and_written_one_server_a_line():
    text = nginx.upstream_text(["10.89.50.12:8080", "[2001:db8::1]:8080"])
    assert "server 10.89.50.12:8080 max_fails=3 fail_timeout=10s;" in text
    assert "server [2001:db8::1]:8080 " in text
    for bad in ([], ["host"], ["a:0"], ["a:8080; evil"]):
        with pytest.raises(nginx.NginxConfError):
            nginx.upstream_text(bad)


def test_maintenance_answers_writes_or_everything_but_lets_the_host_through():
    assert nginx.mode_of(nginx.maintenance_text("off")) == "off"
    writes = nginx.maintenance_text("writes")
    assert nginx.mode_of(writes) == "writes" and "GET|HEAD|OPTIONS" in writes and "return 503" in writes
    full = nginx.maintenance_text("full")
    assert 'set $followup_maintenance "full";' in full and "$remote_addr = 127.0.0.1" in full
    assert '"status":"MAINTENANCE"' in full
    with pytest.raises(nginx.NginxConfError):
        nginx.maintenance_text("partial")


@pytest.fixture
def fake_nginx(tmp_path):
    script = tmp_path / "nginx"

    def make(rc):
        script.write_text(f"#!/bin/sh\necho 'emerg: bad' >&2\nexit {rc}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        return str(script)

    return make


def run(tmp_path, nginx_bin, check_mode=False, **args):
    params = dict(conf_dir=str(tmp_path / "conf"), reload=False, nginx=nginx_bin, **args)
    return run_module(module, params, check_mode=check_mode, diff=True)


def test_a_change_is_written_checked_and_reported_and_a_second_run_changes_nothing(tmp_path, fake_nginx):
    ok = fake_nginx(0)
    result = run(tmp_path, ok, upstreams=["10.0.0.1:8080"], maintenance="off")
    assert result["changed"] and result["upstreams"] == ["10.0.0.1:8080"] and result["maintenance"] == "off"
    assert len(result["diff"]) == 2
    assert not run(tmp_path, ok, upstreams=["10.0.0.1:8080"], maintenance="off")["changed"]
    result = run(tmp_path, ok, maintenance="full")
    assert result["changed"] and result["maintenance"] == "full" and result["upstreams"] == ["10.0.0.1:8080"]


def test_check_mode_writes_nothing(tmp_path, fake_nginx):
    result = run(tmp_path, fake_nginx(0), check_mode=True, upstreams=["10.0.0.1:8080"])
    assert result["changed"] and not os.path.exists(tmp_path / "conf")


def test_what_nginx_refuses_is_put_back(tmp_path, fake_nginx):
    run(tmp_path, fake_nginx(0), upstreams=["10.0.0.1:8080"], maintenance="off")
    before = (tmp_path / "conf" / "upstream.conf").read_text()
    result = run(tmp_path, fake_nginx(1), upstreams=["10.0.0.1:8180"], maintenance="writes")
    assert result["failed"] and "nginx -t refused" in result["msg"] and "emerg: bad" in result["msg"]
    assert (tmp_path / "conf" / "upstream.conf").read_text() == before
    assert nginx.mode_of((tmp_path / "conf" / "maintenance.conf").read_text()) == "off"
