"""The front-end server after converge: nginx proxies HTTPS to the application with modern TLS only, HTTP
redirects to HTTPS, and the interface service moves records between interface_data and the application."""

import json
import socket
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


def test_the_interface_service_listens_on_loopback_only(host):
    listening = host.check_output("ss -Htln 'sport = :8081'")
    assert "127.0.0.1:8081" in listening and "0.0.0.0:8081" not in listening and "*:8081" not in listening


def refused_from_the_control_node(address, port):
    with socket.socket() as probe:
        probe.settimeout(3)
        try:
            probe.connect((address, port))
        except OSError:
            return True
    return False


def test_only_the_front_end_reaches_the_applications_plain_http_port(host):
    assert host.run("curl -fsS -m 5 -o /dev/null http://10.89.63.12:8080/health").rc == 0
    assert refused_from_the_control_node("10.89.63.12", 8080), "the control node reached the app around TLS"
    assert refused_from_the_control_node("10.89.63.11", 8081), "the interface service answers on the network"
    assert not refused_from_the_control_node("10.89.63.11", 443), "nginx must serve HTTPS on the network"


def test_the_local_facts_name_the_services_and_their_checks(host):
    nginx = json.loads(host.file("/etc/ansible/facts.d/followup_fep.fact").content_string)
    assert nginx == {
        "services": ["nginx"],
        "checks": [{"name": "nginx", "type": "tcp", "host": "10.89.63.11", "port": 443}],
        "server_name": "followup.molecule.internal",
        "tls_certificate": "/etc/nginx/tls/followup.crt",
    }
    interface = json.loads(host.file("/etc/ansible/facts.d/followup_component_fep.fact").content_string)
    assert interface["services"] == ["followup-fep"] and interface["listen"] == "127.0.0.1:8081"
    assert interface["checks"] == [
        {"name": "followup-fep", "type": "http", "host": "127.0.0.1", "port": 8081, "path": "/health"}
    ]


def test_the_certificate_names_the_front_ends_address(host):
    text = host.check_output("openssl x509 -in /etc/nginx/tls/followup.crt -noout -ext subjectAltName")
    assert "IP Address:10.89.63.11" in text and "DNS:followup.molecule.internal" in text
