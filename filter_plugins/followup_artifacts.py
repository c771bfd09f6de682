# followup-ops: the artifact directory's SHA256SUMS, read strictly (roles/mongodb/tasks/assert.yml).
#
#     lookup('ansible.builtin.file', dir ~ '/SHA256SUMS') | followup_sha256sums(dir ~ '/SHA256SUMS')
#
# gives {file name: sha256}. A line that is not exactly what `sha256sum` writes stops the run with one line naming
# the file, the line and the fix: a file whose checksum line cannot be read is never taken as verified.

import re

from ansible.errors import AnsibleFilterError

# `sha256sum` writes "<64 lower-case hex digits><space><space or *><file name>" (text or binary mode).
_LINE = re.compile(r"\A(?P<digest>[0-9a-f]{64}) [ *](?P<name>.*)\Z")
# A plain file name in the artifact directory: no directory part, no white space or control characters, and not
# a name sha256sum had to escape (it starts such lines with a backslash).
_NAME = re.compile(r"\A[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*\Z")
_FIX = "fix the line, or rewrite the file with `sha256sum * > SHA256SUMS` in that directory"


def _shown(line):
    return repr(line if len(line) <= 80 else line[:77] + "...")


def followup_sha256sums(text, source="SHA256SUMS"):
    """{file name: sha256} of the SHA256SUMS text TEXT (SOURCE names the file in errors). Empty lines are skipped;
    every other line must be '<64 lower-case hex digits>  <plain file name>' (or ' *<name>'), each name once."""
    if text is None:
        raise AnsibleFilterError(f"{source} could not be read: create it with `sha256sum * > SHA256SUMS`")
    sums = {}
    for number, line in enumerate(str(text).split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line:
            continue
        found = _LINE.match(line)
        if not found:
            raise AnsibleFilterError(
                f"{source} line {number} is not '<64 lower-case hex digits>  <file name>' as sha256sum writes it: "
                f"{_shown(line)}; {_FIX}"
            )
        name = found.group("name")
        if not _NAME.match(name):
            raise AnsibleFilterError(
                f"{source} line {number} names {_shown(name)}, which is not a plain file name of that directory "
                f"(letters, digits, . _ + ~ -, no directory part); {_FIX}"
            )
        if name in sums:
            raise AnsibleFilterError(
                f"{source} line {number} lists {name} a second time: keep one line per file; {_FIX}"
            )
        sums[name] = found.group("digest")
    return sums


class FilterModule:
    def filters(self):
        return {"followup_sha256sums": followup_sha256sums}
