"""filter_plugins/followup_artifacts.py: SHA256SUMS read strictly; every line that is not what sha256sum writes stops
the run naming the file and the line."""

import hashlib

import followup_artifacts
import pytest
from ansible.errors import AnsibleFilterError

sums = followup_artifacts.FilterModule().filters()["followup_sha256sums"]

A = hashlib.sha256(b"ferretdb").hexdigest()
B = hashlib.sha256(b"mongodump").hexdigest()


def test_text_and_binary_mode_lines():
    text = f"{A}  ferretdb\n{B} *mongodb-linux-x86_64-debian12-7.0.14.tgz\n"
    assert sums(text, "build/artifacts/SHA256SUMS") == {"ferretdb": A, "mongodb-linux-x86_64-debian12-7.0.14.tgz": B}


def test_empty_lines_and_crlf_endings_are_accepted():
    assert sums(f"\n{A}  ferretdb\r\n\n{B}  mongodb-org-server_7.0.14+x~1_amd64.deb\r\n") == {
        "ferretdb": A,
        "mongodb-org-server_7.0.14+x~1_amd64.deb": B,
    }


def test_an_empty_file_lists_nothing():
    assert sums("") == {}


@pytest.mark.parametrize(
    "line",
    [
        f"{A.upper()}  ferretdb",  # upper-case hex
        f"{A[:-1]}  ferretdb",  # 63 digits
        f"{A}0  ferretdb",  # 65 digits
        f"{A}\tferretdb",  # a tab is not what sha256sum writes
        f"{A}ferretdb",
        f"{A}  ferretdb extra",  # a third field
        f"\\{A}  ferret\\ndb",  # sha256sum's escaped-name form
        f"SHA256 (ferretdb) = {A}",  # BSD style
        f"{A}  ",
        "# a comment",
    ],
)
def test_a_line_sha256sum_would_not_write_is_refused_naming_the_line(line):
    with pytest.raises(AnsibleFilterError, match=r"\A/srv/artifacts/SHA256SUMS line 2 ") as caught:
        sums(f"{B}  mongodump\n{line}\n", "/srv/artifacts/SHA256SUMS")
    assert "\n" not in str(caught.value)
    assert "sha256sum * > SHA256SUMS" in str(caught.value)


@pytest.mark.parametrize("name", ["../ferretdb", "bin/ferretdb", "/usr/bin/ferretdb", ".", "..", ".hidden", "a b"])
def test_names_that_are_not_plain_file_names_are_refused(name):
    with pytest.raises(AnsibleFilterError, match=r"line 1 (names .* which is not a plain file name|is not)"):
        sums(f"{A}  {name}\n")


def test_a_file_listed_twice_is_refused_even_with_the_same_digest():
    with pytest.raises(AnsibleFilterError, match="SHA256SUMS line 3 lists ferretdb a second time"):
        sums(f"{A}  ferretdb\n{B}  mongodump\n{A}  ferretdb\n")


def test_an_unreadable_file_is_refused():
    with pytest.raises(AnsibleFilterError, match="could not be read"):
        sums(None, "SHA256SUMS")


def test_a_long_bad_line_is_shortened_in_the_message():
    with pytest.raises(AnsibleFilterError) as caught:
        sums("x" * 500)
    assert len(str(caught.value)) < 300
