# followup-ops mysql_hardening: which server options, for which flavour and version, and which accounts to change.
# Tested in tests/unit/hardening/test_mysql_hardening_filters.py.

from ansible.errors import AnsibleFilterError


def _version(text):
    parts = []
    for part in str(text or "").split("-")[0].split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def _known(version):
    return _version(version) != (0, 0, 0)


def mysql_hardening_options(s):
    """The [mysqld] options of the hardening drop-in, [[name, value]] in order (value None: a bare option).

    S is a mapping: flavour (mariadb|mysql), version, and the role's inputs (families and thresholds). Options a
    server of this flavour and version does not know are left out, so that the file passes its option parser.
    """
    flavour = s.get("flavour")
    if flavour not in ("mariadb", "mysql"):
        raise AnsibleFilterError(f"mysql_hardening: flavour {flavour!r} from the mysql fact: expected mariadb or mysql")
    version = _version(s.get("version"))
    if not _known(s.get("version")):
        raise AnsibleFilterError(
            "mysql_hardening: the mysql fact has no server version ({!r}): run the mysql role first".format(
                s.get("version")
            )
        )
    maria = flavour == "mariadb"
    mysql8 = not maria and version >= (8, 0, 0)
    opts = []
    if s.get("password_policy"):
        if maria:
            opts += [
                ["plugin_load_add", "simple_password_check"],
                ["simple_password_check", "FORCE_PLUS_PERMANENT"],
                ["simple_password_check_minimal_length", int(s["min_length"])],
                ["simple_password_check_digits", int(s["digits"])],
                ["simple_password_check_letters_same_case", int(s["mixed_case"])],
                ["simple_password_check_other_characters", int(s["special"])],
            ]
        elif mysql8:
            # The component is installed by SQL (INSTALL COMPONENT); loose_ keeps a server without it starting.
            opts += [
                ["loose_validate_password.policy", s["policy"]],
                ["loose_validate_password.length", int(s["min_length"])],
                ["loose_validate_password.number_count", int(s["digits"])],
                ["loose_validate_password.mixed_case_count", int(s["mixed_case"])],
                ["loose_validate_password.special_char_count", int(s["special"])],
            ]
        else:
            opts += [
                ["plugin_load_add", "validate_password.so"],
                ["validate_password", "FORCE_PLUS_PERMANENT"],
                ["validate_password_policy", s["policy"]],
                ["validate_password_length", int(s["min_length"])],
                ["validate_password_number_count", int(s["digits"])],
                ["validate_password_mixed_case_count", int(s["mixed_case"])],
                ["validate_password_special_char_count", int(s["special"])],
            ]
    if s.get("audit") and maria:
        opts += [
            ["plugin_load_add", "server_audit"],
            ["server_audit", "FORCE_PLUS_PERMANENT"],
            ["server_audit_logging", "ON"],
            ["server_audit_events", ",".join(s["audit_events"])],
            ["server_audit_output_type", "file"],
            ["server_audit_file_path", s["audit_file"]],
            ["server_audit_file_rotate_size", int(s["audit_rotate_size"])],
            ["server_audit_file_rotations", int(s["audit_rotations"])],
        ]
    if s.get("tls"):
        opts += [["ssl_ca", s["tls_ca"]], ["ssl_cert", s["tls_cert"]], ["ssl_key", s["tls_key"]]]
        if (maria and version >= (10, 4, 6)) or (not maria and version >= (5, 7, 10)):
            opts.append(["tls_version", ",".join(s["tls_protocols"])])
    if s.get("require_tls"):
        if (maria and version < (10, 5, 2)) or (not maria and version < (5, 7, 8)):
            raise AnsibleFilterError(
                "mysql_hardening_require_tls_enabled: {} {} has no require_secure_transport (MariaDB 10.5.2+, MySQL "
                "5.7.8+): require TLS per account (REQUIRE SSL) or upgrade".format(flavour, s.get("version"))
            )
        opts.append(["require_secure_transport", "ON"])
    if s.get("password_lifetime"):
        if maria and version < (10, 4, 3):
            raise AnsibleFilterError("mysql_hardening_lifetime_enabled: MariaDB before 10.4.3 has no lifetime")
        opts.append(["default_password_lifetime", int(s["lifetime_days"])])
    if s.get("login_failure"):
        if maria:
            if version < (10, 4, 2):
                raise AnsibleFilterError("mysql_hardening_login_failure_enabled: MariaDB before 10.4.2 has no lockout")
            opts.append(["max_password_errors", int(s["max_password_errors"])])
        else:
            opts += [
                ["plugin_load_add", "connection_control.so"],
                ["connection_control", "FORCE_PLUS_PERMANENT"],
                ["connection_control_failed_login_attempts", "FORCE_PLUS_PERMANENT"],
                ["connection_control_failed_connections_threshold", int(s["cc_threshold"])],
                ["connection_control_min_connection_delay", int(s["cc_min_delay"])],
            ]
    if s.get("timeouts"):
        opts += [["wait_timeout", int(s["timeout"])], ["interactive_timeout", int(s["timeout"])]]
    if s.get("options"):
        opts.append(["local_infile", 0])
        if maria or version < (8, 0, 0):
            opts.append(["symbolic_links", 0])
        opts += [["secure_file_priv", s["secure_file_priv"]], ["binlog_checksum", "CRC32"]]
    return opts


def mysql_hardening_accounts_query(flavour):
    """SELECT listing every account with its plugin, whether its password is empty, whether it is locked and its
    password lifetime; never the password hash itself."""
    if flavour == "mariadb":
        return (
            "SELECT User AS user, Host AS host, JSON_VALUE(Priv, '$.plugin') AS plugin, "
            "(IFNULL(JSON_VALUE(Priv, '$.authentication_string'), '') = '' "
            "AND JSON_QUERY(Priv, '$.auth_or') IS NULL) AS empty_auth, "
            "(JSON_VALUE(Priv, '$.account_locked') IN ('true', '1')) AS locked, "
            "JSON_VALUE(Priv, '$.password_lifetime') AS lifetime, "
            # MariaDB writes an account of one method as the method at the top and, once it had alternatives,
            # auth_or [{}] (the top method's place); [{}, {"plugin": "unix_socket"}] is password OR socket.
            "(JSON_VALUE(Priv, '$.plugin') = 'unix_socket' AND (JSON_QUERY(Priv, '$.auth_or') IS NULL "
            "OR (JSON_LENGTH(Priv, '$.auth_or') = 1 AND JSON_LENGTH(Priv, '$.auth_or[0]') = 0))) AS socket_only "
            "FROM mysql.global_priv"
        )
    return (
        "SELECT User AS user, Host AS host, plugin, authentication_string = '' AS empty_auth, "
        "account_locked = 'Y' AS locked, password_lifetime AS lifetime, plugin = 'auth_socket' AS socket_only "
        "FROM mysql.user"
    )


SOCKET_PLUGINS = ("unix_socket", "auth_socket")


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _quote(user, host):
    return "'{}'@'{}'".format(str(user).replace("'", "''"), str(host).replace("'", "''"))


def mysql_hardening_account_statements(rows, s):
    """The ALTER USER / REVOKE statements the account families need, from the rows of the accounts query.

    S: accounts (bool), lifetime (bool), lifetime_exempt, root_socket (bool), flavour.
    """
    statements = []
    for row in rows or []:
        user, host = row.get("user"), row.get("host")
        if user is None:
            continue
        plugin = row.get("plugin") or ""
        locked = _truthy(row.get("locked"))
        empty = _truthy(row.get("empty_auth"))
        if s.get("accounts") and empty and not locked and plugin not in SOCKET_PLUGINS and user != "":
            statements.append(f"ALTER USER {_quote(user, host)} ACCOUNT LOCK")
        if s.get("lifetime") and user in (s.get("lifetime_exempt") or []):
            lifetime = row.get("lifetime")
            if str(lifetime) not in ("0",):
                statements.append(f"ALTER USER {_quote(user, host)} PASSWORD EXPIRE NEVER")
        if s.get("root_socket") and user == "root" and host == "localhost" and not _truthy(row.get("socket_only")):
            if s.get("flavour") == "mariadb":
                statements.append(f"ALTER USER {_quote(user, host)} IDENTIFIED VIA unix_socket")
            else:
                statements.append(f"ALTER USER {_quote(user, host)} IDENTIFIED WITH auth_socket")
    return statements


def mysql_hardening_revocations(rows, allowed):
    """REVOKE statements for the rows of information_schema.USER_PRIVILEGES (global privileges) held by accounts
    other than ALLOWED: only those may hold global privileges (the catalogue's dangerous ones among them)."""
    statements = []
    allowed = set(allowed or [])
    for row in rows or []:
        grantee = str(row.get("GRANTEE") or row.get("grantee") or "")
        privilege = str(row.get("PRIVILEGE_TYPE") or row.get("privilege_type") or "")
        if not grantee or privilege == "USAGE":
            continue
        user = grantee.split("@", 1)[0].strip("'")
        if user in allowed or user == "":
            continue
        statements.append(f"REVOKE {privilege} ON *.* FROM {grantee}")
    return sorted(set(statements))


class FilterModule:
    def filters(self):
        return {
            "mysql_hardening_options": mysql_hardening_options,
            "mysql_hardening_accounts_query": mysql_hardening_accounts_query,
            "mysql_hardening_account_statements": mysql_hardening_account_statements,
            "mysql_hardening_revocations": mysql_hardening_revocations,
        }
