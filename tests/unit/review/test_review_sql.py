"""SQL that gets transaction control past the migration runner's check.

The check reads each statement as the server does, with string contents blanked (data is not SQL). Two ways around
it: a system variable's name is an identifier, so MySQL accepts it quoted (`autocommit`, or "autocommit" under
ANSI_QUOTES, which a script may switch on), and PREPARE/EXECUTE run SQL that is only text when the check reads it.
"""

import pytest
from ansible.module_utils.followup_migrations import MigrationError, split_sql

SMUGGLED = [
    "SET `autocommit` = 0",
    "SET @@session.`autocommit` = 0",
    "SET SESSION `completion_type` = 1",
    'SET "autocommit" = 0',
    "SET @@`transaction_read_only` = 1",
    "PREPARE s FROM 'COMMIT'",
    "PREPARE s FROM @sql",
    "EXECUTE s",
    "EXECUTE IMMEDIATE 'COMMIT'",
    "execute immediate concat('SELECT RELEASE', '_LOCK(''followup_migrate.cloud_followup'')')",
]


@pytest.mark.parametrize("statement", SMUGGLED)
def test_quoted_names_and_dynamic_sql_are_refused_with_file_and_line(statement):
    with pytest.raises(MigrationError) as caught:
        split_sql(f"CREATE TABLE a (x INT);\n\n{statement};\nSELECT 1;", "/r/V003__x.sql")
    msg = str(caught.value)
    assert msg.startswith("/r/V003__x.sql:3: ") and "is refused" in msg and "remove it" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE `x; COMMIT` (id INT)",
        "CREATE TABLE `get_lock` (id INT)",
        "ALTER TABLE t ADD COLUMN `autocommit` INT",
        "UPDATE t SET `autocommit_flag` = 1",
        "SET @`autocommit` = 0",
        "INSERT INTO t (`execute`, `prepare`) VALUES ('EXECUTE', \"PREPARE s\")",
        'SELECT "COMMIT; ROLLBACK"',
        "DEALLOCATE PREPARE s",
    ],
)
def test_quoted_identifiers_that_are_no_transaction_control_pass(statement):
    assert split_sql(statement + ";") == [statement]
