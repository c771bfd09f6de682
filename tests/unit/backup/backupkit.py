"""Helpers of the backup tests: dump texts as the tools write them, mongodump archives, age keys, a store."""

import shutil
import struct
import subprocess

import bson
import pytest

# mariadb-dump 10.11 (one row per line), trimmed to what the digest reads; strings hold "),(" and escapes on purpose.
MARIADB_DUMP = b"""/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
-- CHANGE MASTER TO MASTER_LOG_FILE='followup-bin.000001', MASTER_LOG_POS=1224;

--
-- Current Database: `d1`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `d1` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE `d1`;

--
-- Table structure for table `t`
--

DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `s` varchar(50) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;

--
-- Dumping data for table `t`
--
-- ORDER BY:  `id`

LOCK TABLES `t` WRITE;
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
INSERT INTO `t` VALUES
(1,'a),(b'),
(2,'x\\\\y'),
(3,'it\\'s');
/*!40000 ALTER TABLE `t` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `empty`
--

CREATE TABLE `empty` (`id` int NOT NULL);

--
-- Dumping data for table `empty`
--

LOCK TABLES `empty` WRITE;
UNLOCK TABLES;

-- SET GLOBAL gtid_slave_pos='0-1-5';

-- Dump completed
"""

# mysqldump (MySQL 8): all rows of a statement on one line.
MYSQL_DUMP = b"""-- MySQL dump 10.13  Distrib 8.0.36
-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000007', SOURCE_LOG_POS=157;
USE `d1`;
--
-- Dumping data for table `t`
--
LOCK TABLES `t` WRITE;
INSERT INTO `t` VALUES (1,'a),(b'),(2,'x\\\\y'),(3,'it\\'s');
UNLOCK TABLES;
-- Dump completed on 2026-12-01 20:00:00
"""


def mongo_archive(collections, db="cdr", split=1):
    """A mongodump --archive byte string: {collection: [documents]} in SPLIT interleaved segments each."""
    out = bytearray(b"\x6d\xe2\x99\x81")
    out += bson.encode({"concurrent_collections": 1, "version": "0.1", "server_version": "7.0.0"})
    for name in collections:
        out += bson.encode({"db": db, "collection": name, "metadata": "{}", "size": 0, "type": "collection"})
    out += b"\xff\xff\xff\xff"
    for part in range(split):
        for name, docs in collections.items():
            chunk = docs[part::split]
            out += bson.encode({"db": db, "collection": name, "EOF": False, "CRC": 0})
            for doc in chunk:
                out += bson.encode(doc)
            out += b"\xff\xff\xff\xff"
    for name in collections:
        out += bson.encode({"db": db, "collection": name, "EOF": True, "CRC": struct.unpack("<q", b"\0" * 8)[0]})
        out += b"\xff\xff\xff\xff"
    return bytes(out)


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip("needs {} on this machine (apt-get install {})".format(", ".join(missing), " ".join(missing)))


def age_keypair():
    need("age", "age-keygen")
    identity = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    recipient = subprocess.run(["age-keygen", "-y"], input=identity, capture_output=True, text=True, check=True)
    return identity, recipient.stdout.strip()
