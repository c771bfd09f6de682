# -*- coding: utf-8 -*-
# Detached SSH signatures (SSHSIG, `ssh-keygen -Y sign`) over exact bytes, and their verification against a list of
# allowed signers given as allowed_signers lines (ssh-keygen(1), "ALLOWED SIGNERS").
#
# Used for the signed release index (namespace followup-release, docs/releases.md) and meant for any other signed
# document (signed upgrade approvals use namespace followup-approval): nothing here knows about releases.
#
# Rules:
# - the data is handed to ssh-keygen on stdin from bytes the caller read once; the caller parses those same bytes,
#   so what was verified is what is used (no check-then-reopen);
# - the allowed signers go to a private temporary file (0600, in a 0700 temporary directory, removed afterwards);
# - every allowed_signers line is checked strictly before use: one principal without wildcards, options limited to
#   namespaces="<the one namespace>" (required), valid-after and valid-before, a known key type whose base64 blob
#   really holds a key of that type, no control characters (a newline would add a signer).
# Pure Python (standard library) plus the ssh-keygen binary of OpenSSH 8.2 or newer.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import os
import re
import shutil
import struct
import subprocess
import tempfile

PLACEHOLDER = "CHANGE-ME"
SIGNATURE_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
MAX_SIGNATURE_BYTES = 64 * 1024
TIMEOUT = 60

NAMESPACE_RE = re.compile(r"\A[a-z0-9][a-z0-9.@_-]{0,63}\Z")
# One principal, no pattern characters (*, ?, !, commas): a signer list names exactly who may sign.
PRINCIPAL_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z")
TIME_RE = re.compile(r"\A[0-9]{8}([0-9]{4}([0-9]{2})?)?Z?\Z")
BASE64_RE = re.compile(r"\A[A-Za-z0-9+/]+={0,2}\Z")
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)
ALLOWED_OPTIONS = ("namespaces", "valid-after", "valid-before")


class SignatureError(Exception):
    """A signature, a signer list or ssh-keygen that cannot be trusted. The message is one line."""


class SignersError(SignatureError):
    """The list of allowed signers itself is unusable (empty, a placeholder, a bad or unrestricted line)."""


def _one_line(text):
    return " ".join(str(text).split())


def _has_control(text):
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def _split_options(text, where):
    """Split an allowed_signers options field at commas outside double quotes: [(name, value or None)]."""
    options, name, value, quoted, in_value = [], "", None, False, False
    for char in text + ",":
        if quoted:
            if char == '"':
                quoted = False
            else:
                value += char
            continue
        if char == "," and not quoted:
            options.append((name, value))
            name, value, in_value = "", None, False
        elif char == "=" and not in_value:
            in_value, value = True, ""
        elif char == '"' and in_value and value == "":
            quoted = True
        elif in_value:
            raise SignersError("%s: option %s has a value that is not in double quotes" % (where, name))
        else:
            name += char
    if quoted:
        raise SignersError("%s: an option value lacks its closing double quote" % where)
    return options


def _key_blob_type(blob):
    """The key type string that opens an SSH public key blob (RFC 4253 string), or None."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_signer(line, namespace, where="allowed signer"):
    """Check one allowed_signers line; return it as a dict (principal, key_type, key, options, comment, line).

    The line must name one principal, be restricted to NAMESPACE (namespaces="NAMESPACE") and carry a key of a known
    type. Raises SignatureError naming WHERE and what is wrong.
    """
    if not NAMESPACE_RE.match(str(namespace)):
        raise SignersError("namespace %r is not a valid signature namespace" % (namespace,))
    if not isinstance(line, str):
        raise SignersError("%s must be a text line, not %s" % (where, type(line).__name__))
    if _has_control(line):
        raise SignersError("%s holds a control character (a newline would add another signer)" % where)
    text = line.strip()
    if not text:
        raise SignersError("%s is empty" % where)
    if PLACEHOLDER in text:
        raise SignersError("%s is still the placeholder %s" % (where, PLACEHOLDER))
    # The options field may hold quoted spaces; split the rest at whitespace.
    principal, _, rest = text.partition(" ")
    if not PRINCIPAL_RE.match(principal):
        raise SignersError(
            "%s: principal %r must be one name of letters, digits and ._@+- (no patterns or lists)" % (where, principal)
        )
    rest = rest.lstrip()
    options_text = ""
    if rest and rest.split(" ", 1)[0] not in KEY_TYPES:
        quoted = False
        for index, char in enumerate(rest):
            if char == '"':
                quoted = not quoted
            elif char == " " and not quoted:
                options_text, rest = rest[:index], rest[index:].lstrip()
                break
        else:
            options_text, rest = rest, ""
    fields = rest.split(None, 2)
    if len(fields) < 2:
        raise SignersError("%s is not an allowed_signers line (<principal> <options> <key type> <key>)" % where)
    key_type, key = fields[0], fields[1]
    comment = fields[2] if len(fields) > 2 else ""
    if key_type not in KEY_TYPES:
        raise SignersError("%s: key type %r is not one of %s" % (where, key_type, ", ".join(KEY_TYPES)))
    try:
        blob = base64.b64decode(key, validate=True) if BASE64_RE.match(key) else b""
    except (binascii.Error, ValueError):
        blob = b""
    blob_type = _key_blob_type(blob)
    expected = "ssh-rsa" if key_type.startswith("rsa-sha2-") else key_type
    if blob_type != expected:
        raise SignersError("%s: the key is not a valid %s public key" % (where, key_type))
    options = _split_options(options_text, where) if options_text else []
    names = [name for name, _ in options]
    for name, value in options:
        if name not in ALLOWED_OPTIONS:
            raise SignersError("%s: option %r is not accepted (only %s)" % (where, name, ", ".join(ALLOWED_OPTIONS)))
        if names.count(name) > 1:
            raise SignersError("%s: option %s is given twice" % (where, name))
        if name in ("valid-after", "valid-before") and not (value and TIME_RE.match(value)):
            raise SignersError("%s: %s must be YYYYMMDD[HHMM[SS]][Z]" % (where, name))
    namespaces = dict(options).get("namespaces")
    if namespaces != namespace:
        raise SignersError(
            '%s must be restricted to namespaces="%s" (it is %s)'
            % (where, namespace, 'namespaces="%s"' % namespaces if namespaces is not None else "unrestricted")
        )
    normalised = " ".join(
        part
        for part in (
            principal,
            ",".join('%s="%s"' % (n, v) if v is not None else n for n, v in options),
            key_type,
            key,
            comment,
        )
        if part
    )
    return {
        "principal": principal,
        "key_type": key_type,
        "key": key,
        "options": dict(options),
        "comment": comment,
        "line": normalised,
    }


def check_signers(signers, namespace, name="signers"):
    """Check a list of allowed_signers lines (see parse_signer); return the parsed entries.

    NAME is what the caller calls the list (e.g. the inventory variable), so that every message names it.
    """
    if signers is None:
        raise SignersError("%s is not set: it must list the allowed signers" % name)
    if isinstance(signers, (str, bytes)) or not isinstance(signers, (list, tuple)):
        raise SignersError("%s must be a list of allowed_signers lines, not %s" % (name, type(signers).__name__))
    if not signers:
        raise SignersError("%s is empty: nobody would be allowed to sign" % name)
    entries = [parse_signer(line, namespace, "%s[%d]" % (name, index)) for index, line in enumerate(signers)]
    seen = {}
    for index, entry in enumerate(entries):
        if entry["key"] in seen:
            raise SignersError("%s[%d] repeats the key of %s[%d]" % (name, index, name, seen[entry["key"]]))
        seen[entry["key"]] = index
    return entries


def signers_yaml(name, line, width=96):
    """NAME: [LINE] as YAML, the allowed_signers LINE a folded scalar in rows under WIDTH + 4 columns (lint-clean),
    for the group_vars files the lab writes. Raises ValueError when the text would not read back as that line."""
    import yaml  # control node only

    rows, row = [], ""
    for word in line.split():
        if row and len(row) + 1 + len(word) > width:
            rows.append(row)
            row = word
        else:
            row = "%s %s" % (row, word) if row else word
    rows.append(row)
    text = "%s:\n  - >-\n" % name + "".join("    %s\n" % r for r in rows)
    if yaml.safe_load(text) != {name: [" ".join(line.split())]}:
        raise ValueError("the signer line %r cannot be written as YAML" % line)
    return text


def ssh_keygen():
    """Path of ssh-keygen, or SignatureError saying how to get it."""
    for candidate in (shutil.which("ssh-keygen"), "/usr/bin/ssh-keygen"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise SignatureError(
        "ssh-keygen is not installed on the control node: install OpenSSH 8.2 or newer (apt-get install openssh-client)"
    )


def _run(args, data=None):
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    try:
        return subprocess.run(
            [ssh_keygen(), *args],
            input=data or b"",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SignatureError("ssh-keygen %s did not finish within %d s" % (args[1] if len(args) > 1 else "", TIMEOUT))
    except OSError as err:
        raise SignatureError("ssh-keygen could not be run: %s" % _one_line(err))


class _PrivateDir:
    """A 0700 temporary directory removed with everything in it, for files ssh-keygen must read by path."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="followup-sshsig-")
        os.chmod(self.path, 0o700)
        return self

    def write(self, name, data):
        path = os.path.join(self.path, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def sign(data, key_path, namespace):
    """Sign DATA (bytes) with the private key at KEY_PATH in NAMESPACE; return the armored SSHSIG signature."""
    if not NAMESPACE_RE.match(str(namespace)):
        raise SignatureError("namespace %r is not a valid signature namespace" % (namespace,))
    if not os.path.isfile(key_path):
        raise SignatureError("signing key %s does not exist" % key_path)
    proc = _run(["-Y", "sign", "-q", "-f", key_path, "-n", namespace], data)
    if proc.returncode != 0 or not proc.stdout.startswith(SIGNATURE_BEGIN):
        raise SignatureError(
            "signing with %s failed: %s" % (key_path, _one_line(proc.stderr.decode("utf-8", "replace")) or "no output")
        )
    return proc.stdout


def verify(data, signature, signers, namespace, name="signers", what="the data"):
    """Verify SIGNATURE (bytes, armored SSHSIG) over DATA (bytes) in NAMESPACE by one of SIGNERS.

    SIGNERS is a list of allowed_signers lines, checked with check_signers (NAME names it in messages); WHAT names the
    signed document in messages. Returns {"principal": ..., "key": "<KEYTYPE> SHA256:..."} of the signer, or raises
    SignatureError with a one-line reason.
    """
    entries = check_signers(signers, namespace, name)
    if not isinstance(signature, bytes) or not signature.startswith(SIGNATURE_BEGIN):
        raise SignatureError("the signature of %s is not an SSH signature (ssh-keygen -Y sign)" % what)
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise SignatureError("the signature of %s is larger than %d bytes" % (what, MAX_SIGNATURE_BYTES))
    allowed = "".join(entry["line"] + "\n" for entry in entries).encode("ascii")
    with _PrivateDir() as private:
        allowed_path = private.write("allowed_signers", allowed)
        signature_path = private.write("data.sig", signature)
        found = _run(["-Y", "find-principals", "-s", signature_path, "-f", allowed_path])
        principals = [p for p in found.stdout.decode("ascii", "replace").split() if PRINCIPAL_RE.match(p)]
        if found.returncode != 0 or not principals:
            reason = _one_line(found.stderr.decode("utf-8", "replace"))
            if "No principal matched" in reason and "Couldn't" not in reason:
                raise SignatureError("%s is signed by a key that is not in %s" % (what, name))
            raise SignatureError("the signature of %s cannot be read: %s" % (what, reason or "ssh-keygen failed"))
        reasons = []
        for principal in principals:
            proc = _run(
                ["-Y", "verify", "-f", allowed_path, "-I", principal, "-n", namespace, "-s", signature_path], data
            )
            out = proc.stdout.decode("utf-8", "replace")
            if proc.returncode == 0 and out.startswith("Good "):
                match = re.search(r" with (\S+ key \S+)", out)
                return {"principal": principal, "key": match.group(1) if match else ""}
            reasons.append(_one_line(proc.stderr.decode("utf-8", "replace")))
    reason = "; ".join(r for r in reasons if r) or "ssh-keygen refused it"
    if "namespace" in reason:
        raise SignatureError('the signature of %s is not made for namespace "%s" (%s)' % (what, namespace, reason))
    if "incorrect signature" in reason:
        raise SignatureError("the signature does not match %s: it was changed after it was signed" % what)
    raise SignatureError("the signature of %s does not verify: %s" % (what, reason))
