"""followup_status never fails (docs/architecture.md: status reports what it finds): a local fact whose health check
names a port that is no port is a problem in the report, and the host's other checks still run."""

import json

import followup_status as module
from modulekit import run_module


def test_a_health_check_with_a_port_that_is_no_port_is_a_problem_not_a_traceback(tmp_path):
    facts = tmp_path / "facts"
    facts.mkdir()
    good = {"name": "db", "type": "tcp", "host": "127.0.0.1", "port": 9}
    bad = [
        {"name": "app", "type": "http", "host": "127.0.0.1", "port": "8080/health"},
        {"name": "fep", "type": "http", "host": "127.0.0.1", "port": None},
        {"name": "voice", "type": "sip", "host": "127.0.0.1", "port": 70000},
    ]
    (facts / "broken.fact").write_text(json.dumps({"services": [], "checks": [*bad, good]}))
    result = run_module(module, {"facts_dir": str(facts), "base_dir": str(tmp_path / "opt")})
    assert not result.get("failed")
    status = result["status"]
    assert [c["name"] for c in status["health"]["checks"]] == ["db"]
    assert len(status["problems"]) == 3 and all("port" in p for p in status["problems"])
