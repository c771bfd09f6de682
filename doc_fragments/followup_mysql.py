# -*- coding: utf-8 -*-
# Options of the followup-ops modules that log in to MySQL (module_utils/followup_db.py, mysql_argument_spec).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  login_host:
    description: MySQL server address.
    type: str
    default: 127.0.0.1
  login_port:
    description: MySQL server port.
    type: int
    default: 3306
  login_user:
    description: MySQL account to log in as.
    type: str
  login_password:
    description: Password of O(login_user); never logged, never on a command line.
    type: str
  login_unix_socket:
    description: MySQL unix socket, instead of O(login_host) and O(login_port) (for example root on the database host).
    type: path
requirements:
  - PyMySQL (python3-pymysql) on the managed host
"""
