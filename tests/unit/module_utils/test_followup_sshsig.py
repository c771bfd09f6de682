"""module_utils/followup_sshsig.py with the real ssh-keygen: sign, verify, and the strict allowed_signers lines."""

import os
import stat

import pytest
from ansible.module_utils import followup_sshsig
from ansible.module_utils.followup_sshsig import (
    SignatureError,
    SignersError,
    check_signers,
    parse_signer,
    sign,
    verify,
)
from releasekit import release_key, signer_line

NS = "followup-release"


def line(name="vendor", options=f'namespaces="{NS}"', principal=None):
    return signer_line(name, principal=principal, options=options)


def test_a_signature_verifies_and_names_its_signer():
    data = b"format: 1\nproduct: followup\n"
    signature = sign(data, release_key(), NS)
    assert signature.startswith(b"-----BEGIN SSH SIGNATURE-----")
    signer = verify(data, signature, [line()], NS, "followup_release_signers", "index.yml")
    assert signer["principal"] == "vendor@releases.test"
    assert signer["key"].startswith("ED25519 key SHA256:")


def test_the_same_namespace_module_serves_other_documents():
    """Issue 8 reuses it for approvals: another namespace, another signer list."""
    data = b"approve: 1.1.0\n"
    signature = sign(data, release_key("it-department"), "followup-approval")
    approver = line("it-department", options='namespaces="followup-approval"', principal="it-head@hospital.test")
    assert verify(data, signature, [approver], "followup-approval")["principal"] == "it-head@hospital.test"
    with pytest.raises(SignatureError, match='not made for namespace "followup-release"'):
        verify(data, signature, [line("it-department")], NS)


def test_one_changed_byte_is_refused():
    data = b"sha256: " + b"a" * 64 + b"\n"
    signature = sign(data, release_key(), NS)
    with pytest.raises(SignatureError, match=r"does not match index.yml: it was changed after it was signed"):
        verify(data.replace(b"a", b"b", 1), signature, [line()], NS, what="index.yml")


def test_a_signature_by_a_key_not_in_the_list_is_refused():
    data = b"x"
    signature = sign(data, release_key("intruder"), NS)
    with pytest.raises(SignatureError, match=r"signed by a key that is not in followup_release_signers"):
        verify(data, signature, [line()], NS, "followup_release_signers")


@pytest.mark.parametrize(
    "signature",
    [b"", b"not a signature", b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n", "text"],
)
def test_a_malformed_signature_is_refused_in_one_line(signature):
    with pytest.raises(SignatureError) as caught:
        verify(b"x", signature, [line()], NS)
    assert "\n" not in str(caught.value)
    assert "not an SSH signature" in str(caught.value) or "cannot be read" in str(caught.value)


def test_the_allowed_signers_file_is_private_and_removed(monkeypatch):
    seen = []
    real = followup_sshsig._run

    def spy(args, data=None):
        if args[1] in ("find-principals", "verify"):
            path = args[args.index("-f") + 1]
            mode = stat.S_IMODE(os.stat(path).st_mode)
            seen.append((path, mode, stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)))
        return real(args, data)

    monkeypatch.setattr(followup_sshsig, "_run", spy)
    data = b"index"
    signature = sign(data, release_key(), NS)
    verify(data, signature, [line()], NS)
    assert seen and all(mode == 0o600 and parent == 0o700 for _, mode, parent in seen)
    assert not any(os.path.exists(path) for path, _, _ in seen)


def test_the_data_goes_to_ssh_keygen_on_stdin(monkeypatch):
    calls = []
    real = followup_sshsig._run

    def spy(args, data=None):
        calls.append((args[1], data))
        return real(args, data)

    monkeypatch.setattr(followup_sshsig, "_run", spy)
    data = b"the exact bytes"
    signature = sign(data, release_key(), NS)
    verify(data, signature, [line()], NS)
    assert ("verify", data) in calls and ("sign", data) in calls


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("CHANGE-ME", "is still the placeholder CHANGE-ME"),
        ("", "is empty"),
        ("vendor@x", "is not an allowed_signers line"),
        ("*@vendor.example {ns} {key}", "must be one name"),
        ("a,b {ns} {key}", "must be one name"),
        ("vendor@x {key}", 'must be restricted to namespaces="followup-release" (it is unrestricted)'),
        ('vendor@x namespaces="file" {key}', 'it is namespaces="file"'),
        ('vendor@x namespaces="followup-release,file" {key}', "it is namespaces="),
        ('vendor@x cert-authority,namespaces="followup-release" {key}', "option 'cert-authority' is not accepted"),
        ('vendor@x namespaces="followup-release",namespaces="x" {key}', "option namespaces is given twice"),
        ("vendor@x namespaces=followup-release {key}", "has a value that is not in double quotes"),
        ('vendor@x namespaces="followup-release {key}', "is not an allowed_signers line"),
        ('vendor@x namespaces="followup-release",valid-after="tomorrow" {key}', "valid-after must be YYYYMMDD"),
        ("vendor@x {ns} ssh-dss AAAAB3NzaC1kc3M=", "key type 'ssh-dss' is not one of"),
        ("vendor@x {ns} ssh-ed25519 AAAAB3NzaC1yc2E=", "the key is not a valid ssh-ed25519 public key"),
        ("vendor@x {ns} ssh-ed25519 !!!", "the key is not a valid ssh-ed25519 public key"),
        ("vendor@x {ns} {key}\nother {ns} {key}", "control character"),
        ("vendor@x {ns} {key} comment\x00", "control character"),
    ],
)
def test_a_bad_allowed_signers_line_is_refused_naming_it(text, words):
    key = " ".join(line().split()[-2:])
    value = text.format(ns=f'namespaces="{NS}"', key=key)
    with pytest.raises(SignersError) as caught:
        parse_signer(value, NS, "followup_release_signers[3]")
    assert str(caught.value).startswith("followup_release_signers[3]") and words in str(caught.value)


def test_a_good_line_is_normalised():
    entry = parse_signer("  " + line() + "  release key 2026 ", NS)
    assert entry["principal"] == "vendor@releases.test" and entry["key_type"] == "ssh-ed25519"
    assert entry["options"] == {"namespaces": NS} and entry["comment"] == "release key 2026"
    windowed = parse_signer(line(options=f'valid-after="20260101",namespaces="{NS}",valid-before="20270101Z"'), NS)
    assert windowed["options"]["valid-before"] == "20270101Z"


def test_signer_lists_are_checked_whole():
    with pytest.raises(SignersError, match=r"s is empty"):
        check_signers([], NS, "s")
    with pytest.raises(SignersError, match=r"s\[1\] repeats the key of s\[0\]"):
        check_signers([line(), line(principal="again@x")], NS, "s")
    assert len(check_signers([line(), line("other")], NS)) == 2


def test_a_missing_ssh_keygen_is_reported_with_the_fix(monkeypatch):
    monkeypatch.setattr(followup_sshsig.shutil, "which", lambda name: None)
    monkeypatch.setattr(followup_sshsig.os.path, "isfile", lambda path: False)
    with pytest.raises(SignatureError, match=r"ssh-keygen is not installed on the control node: install OpenSSH"):
        followup_sshsig.ssh_keygen()


def test_signing_with_a_missing_key_is_refused(tmp_path):
    with pytest.raises(SignatureError, match=r"signing key .* does not exist"):
        sign(b"x", str(tmp_path / "nokey"), NS)


def test_a_signer_line_is_written_as_a_folded_yaml_scalar_that_reads_back():
    import yaml
    from ansible.module_utils.followup_sshsig import signers_yaml

    line = 'approver@it.hospital namespaces="followup-approval" ssh-ed25519 ' + "A" * 68 + " a comment of words"
    text = signers_yaml("followup_approval_signers", line)
    assert yaml.safe_load(text) == {"followup_approval_signers": [line]}
    assert max(len(row) for row in text.splitlines()) <= 100 and text.count("\n") > 3
