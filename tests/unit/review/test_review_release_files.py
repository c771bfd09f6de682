"""Release repository edge cases: a FIFO in place of a tarball, and one release listed twice in two spellings."""

import os
import threading

import pytest
from ansible.module_utils.followup_release import ReleaseError, parse_index, verify_tarball

INDEX = f"""format: 1
product: followup
releases:
  - {{version: "1.0.0", release_date: "2026-02-02", file: followup-1.0.0.tar.gz, sha256: "{"a" * 64}"}}
  - {{version: "01.0.0", release_date: "2026-02-03", file: followup-01.0.0.tar.gz, sha256: "{"b" * 64}"}}
"""


def test_a_fifo_in_place_of_the_tarball_is_refused_at_once(tmp_path):
    fifo = tmp_path / "followup-1.0.0.tar.gz"
    os.mkfifo(fifo)
    done = []

    def check():
        with pytest.raises(ReleaseError, match="is not a regular file"):
            verify_tarball(str(fifo), "0" * 64, "1.0.0")
        done.append(True)

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert done == [True], "the gate hung on a FIFO"


def test_a_symlink_in_place_of_the_tarball_is_refused(tmp_path):
    target = tmp_path / "real.tar.gz"
    target.write_bytes(b"x")
    link = tmp_path / "followup-1.0.0.tar.gz"
    link.symlink_to(target)
    with pytest.raises(ReleaseError, match="cannot be read"):
        verify_tarball(str(link), "0" * 64, "1.0.0")


def test_one_release_listed_twice_in_two_spellings_is_refused():
    with pytest.raises(ReleaseError, match=r"version 01\.0\.0 is listed twice"):
        parse_index(INDEX.encode())
