# -*- coding: utf-8 -*-
# Options of the followup-ops modules that log in to MongoDB (module_utils/followup_db.py, mongodb_argument_spec).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - MongoDB connection string with credentials, never logged. On FerretDB (the lab) it carries
        C(authSource=cdr&authMechanism=PLAIN), on mongod C(authSource=cdr&authMechanism=SCRAM-SHA-256).
    type: str
requirements:
  - pymongo (python3-pymongo) on the managed host
"""
