# followup-ops, role backup: read an artifact directory's SHA256SUMS (sha256sum's format) into {file name: sha256}.

from ansible.errors import AnsibleFilterError


def followup_backup_sha256sums(text):
    sums = {}
    for number, line in enumerate(str(text).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise AnsibleFilterError(f"SHA256SUMS line {number} is not '<sha256>  <file>': {line[:80]!r}")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


class FilterModule:
    def filters(self):
        return {
            "followup_backup_sha256sums": followup_backup_sha256sums,
        }
