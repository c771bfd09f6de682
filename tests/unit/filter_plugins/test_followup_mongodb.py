"""filter_plugins/followup_mongodb.py: the settings of /etc/mongod.conf."""

import followup_mongodb
import pytest
from ansible.errors import AnsibleFilterError

config = followup_mongodb.FilterModule().filters()["followup_mongod_config"]

BASE = ("/var/lib/mongodb", "/var/log/mongodb/mongod.log", 27017)


def test_authorization_on_and_the_inputs_in_their_keys():
    assert config(*BASE, "10.89.50.22") == {
        "storage": {"dbPath": "/var/lib/mongodb"},
        "systemLog": {"destination": "file", "path": "/var/log/mongodb/mongod.log", "logAppend": True},
        "net": {"port": 27017, "bindIp": "127.0.0.1,10.89.50.22"},
        "security": {"authorization": "enabled"},
        "processManagement": {"timeZoneInfo": "/usr/share/zoneinfo"},
    }


def test_loopback_is_listed_once():
    assert config(*BASE, "127.0.0.1")["net"]["bindIp"] == "127.0.0.1"


def test_cache_size_only_when_above_zero():
    assert "wiredTiger" not in config(*BASE, "127.0.0.1", 0)["storage"]
    assert config(*BASE, "127.0.0.1", "1.5")["storage"]["wiredTiger"] == {"engineConfig": {"cacheSizeGB": 1.5}}


def test_extra_settings_merge_recursively_and_replace_what_they_name():
    merged = config(*BASE, "127.0.0.1", 2, {"net": {"maxIncomingConnections": 2000}, "storage": {"dbPath": "/data"}})
    assert merged["net"] == {"port": 27017, "bindIp": "127.0.0.1", "maxIncomingConnections": 2000}
    assert merged["storage"] == {"dbPath": "/data", "wiredTiger": {"engineConfig": {"cacheSizeGB": 2.0}}}
    assert merged["security"] == {"authorization": "enabled"}


def test_extra_settings_that_are_not_a_mapping_are_refused():
    with pytest.raises(AnsibleFilterError, match="mongodb_mongod_extra_config must be a mapping"):
        config(*BASE, "127.0.0.1", 0, ["operationProfiling"])
