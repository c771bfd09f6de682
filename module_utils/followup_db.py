# -*- coding: utf-8 -*-
# Connections of followup-ops modules to the follow-up system's databases: the shared option specs (documented by
# the doc fragments followup_mysql and followup_mongodb) and one way to open a MySQL connection.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import pymysql

    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    pymysql = None
    HAS_PYMYSQL = False


class ConnectError(Exception):
    """The database could not be reached; the message names it and says what to check."""


def mysql_argument_spec():
    """Options of every module that logs in to MySQL (doc fragment followup_mysql)."""
    return dict(
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=3306),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        login_unix_socket=dict(type="path"),
    )


def mongodb_argument_spec():
    """Options of every module that logs in to MongoDB (doc fragment followup_mongodb)."""
    return dict(uri=dict(type="str", no_log=True))


def mysql_connect(params, database, connect_timeout=10, **extra):
    """Open a PyMySQL connection from the followup_mysql options; a failure becomes one ConnectError line.

    The password goes to the driver in memory, never on a command line.
    """
    kwargs = dict(
        user=params["login_user"],
        password=params["login_password"],
        database=database,
        charset="utf8mb4",
        connect_timeout=connect_timeout,
    )
    if params.get("login_unix_socket"):
        kwargs["unix_socket"] = params["login_unix_socket"]
        where = params["login_unix_socket"]
    else:
        kwargs.update(host=params["login_host"], port=params["login_port"])
        where = "%s:%s" % (params["login_host"], params["login_port"])
    kwargs.update(extra)
    try:
        return pymysql.connect(**kwargs)
    except pymysql.MySQLError as err:
        raise ConnectError(
            "cannot connect to MySQL database %s on %s as %s (%s): check the server is up and the account and "
            "password in the vault" % (database, where, params["login_user"], err.args[-1] if err.args else err)
        )
