"""The front-end server after converge: nginx proxies HTTPS to the application with modern TLS only, HTTP
redirects to HTTPS, and the interface service moves records between interface_data and the application."""

import json
import time

testinfra_hosts = ["ansible://molecule-fep"]
MYSQL = "MYSQL_PWD=molecule-test-only-interface mariadb -h 10.89.63.21 -u followup_interface interface_data -N -B -e"


def test_nginx_and_the_interface_service_run(host):
    for unit in ("nginx", "followup-fep"):
        assert host.service(unit).is_running and host.service(unit).is_enabled


def test_the_application_answers_through_nginx_over_tls(host):
    health = json.loads(
        host.check_output(
            "curl -fsS --cacert /etc/nginx/tls/followup.crt "
            "--resolve followup.molecule.internal:443:127.0.0.1 "
            "https://followup.molecule.internal/health"
        )
    )
    assert health["status"] == "UP" and health["version"] == "1.0.0"


def test_http_redirects_to_https(host):
    out = host.check_output("curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/api/patients")
    assert out.startswith("301 https://")


def test_old_tls_versions_are_refused(host):
    assert host.run("curl -sk --tls-max 1.1 https://127.0.0.1/health").rc != 0
    assert host.run("curl -sk --tlsv1.2 --tls-max 1.2 https://127.0.0.1/health").rc == 0


def test_nginx_config_is_checked_and_hides_its_version(host):
    assert host.run("nginx -t").rc == 0
    headers = host.check_output("curl -skI https://127.0.0.1/health")
    assert "Server: nginx\r" in headers or "Server: nginx\n" in headers
    assert "Strict-Transport-Security" in headers


def test_the_private_key_is_readable_by_root_only(host):
    key = host.file("/etc/nginx/tls/followup.key")
    assert key.user == "root" and key.mode == 0o600


def test_the_interface_service_moves_a_his_record_to_the_application(host):
    host.check_output(
        f'{MYSQL} "INSERT INTO his_patient_inbound (his_patient_id, name, gender, phone, department, status) '
        "VALUES ('HIS-MOLECULE-1', '接口患者', 'M', '19900000021', '骨科', 'new')\""
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = host.check_output(
            f'{MYSQL} "SELECT status, app_patient_id FROM his_patient_inbound '
            "WHERE his_patient_id = 'HIS-MOLECULE-1'\""
        ).split("\t")
        if row[0] != "new":
            break
        time.sleep(2)
    assert row[0] == "sent", row
    patient = json.loads(host.check_output(f"curl -fsS http://10.89.63.12:8080/api/patients/{row[1]}"))
    assert patient["his_patient_id"] == "HIS-MOLECULE-1"
    health = json.loads(host.check_output("curl -fsS http://127.0.0.1:8081/health"))
    assert health["status"] == "UP" and health["checks"] == {"interface_data": "UP", "app": "UP"}
