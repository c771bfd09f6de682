"""`followup-ops approval new|sign|verify|show`: the change approval (变更审批单) the IT department signs before an
upgrade (R-SIGNOFF, docs/upgrade.md), made easy for people who are not Ansible users.

    followup-ops approval new -i inventories/production --change-id CHG-2026-014 --from 1.0.0 \\
        --test-document build/rehearsal/test-document.pdf --approver "王丽 (信息科)" \\
        --valid-until 2026-12-01T18:00+08:00
    followup-ops approval show approvals/CHG-2026-014/approval.yml
    followup-ops approval sign approvals/CHG-2026-014/approval.yml --key ~/.ssh/it-approval    # on the IT side
    followup-ops approval verify approvals/CHG-2026-014/approval.yml -i inventories/production

The document format and the checks are module_utils/followup_approval.py, shared with the upgrade gate.
"""

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

from followup_ops import inventory as inventorymod
from followup_ops.commands.common import Command
from followup_ops.errors import OpsError
from followup_ops.paths import lab_dir, lab_inventory
from followup_ops.textui import table

LAB_APPROVER_PRINCIPAL = "approver@it.followup-ops.lab"
LAB_APPROVAL_VARS = "approval.yml"
HOSPITAL_ZONE = datetime.timezone(datetime.timedelta(hours=8))


def _approval():
    """module_utils/followup_approval.py, importable the way Ansible loads it."""
    import ansible.module_utils

    from followup_ops.paths import repo_root

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_approval

    return followup_approval


def _sshsig():
    _approval()
    from ansible.module_utils import followup_sshsig

    return followup_sshsig


def _release():
    _approval()
    from ansible.module_utils import followup_release

    return followup_release


# --- The lab's approver key (called by `followup-ops lab up`) -----------------------------------------------------


def lab_approver_key():
    return lab_dir() / "approver-key"


def ensure_lab_approver(log=print):
    """The lab's approver key (.lab/approver-key, ed25519, 0600, made once) and the lab inventory's approvers
    (inventories/lab/group_vars/all/approval.yml, gitignored: each machine has its own key), rewritten when the key's
    line differs. Returns the allowed_signers line."""
    key = lab_approver_key()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "followup-ops lab approver (信息科)", "-f", str(key)],
            check=True,
            capture_output=True,
        )
        log(f"lab: made the lab approver key {key}")
    if key.stat().st_mode & 0o077:
        raise OpsError(f"{key}: a signing key must be readable by its owner only (chmod 600 {key})")
    public = Path(str(key) + ".pub").read_text().split()
    approval = _approval()
    line = f'{LAB_APPROVER_PRINCIPAL} namespaces="{approval.NAMESPACE}" {public[0]} {public[1]} lab approver'
    _sshsig().check_signers([line], approval.NAMESPACE, approval.SIGNERS_VAR)
    target = lab_inventory() / "group_vars" / "all" / LAB_APPROVAL_VARS
    try:
        signers = _sshsig().signers_yaml(approval.SIGNERS_VAR, line)
    except ValueError as err:
        raise OpsError(f"{err}; remove {key} and retry") from err
    text = (
        "# Written by `followup-ops lab up` from the public half of .lab/approver-key: who may approve upgrades of\n"
        "# the lab (the IT department's keys in production). Not committed: each machine makes its own lab approver\n"
        "# key. The lab's other upgrade settings are in upgrade.yml beside this file; production's approvers are in\n"
        "# inventories/production/group_vars/all/approval.yml.\n" + signers
    )
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
        log(f"lab: wrote the lab's approvers {target}")
    return line


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _time(text, what):
    """An ISO time given on the command line; without a zone it is the hospital's (+08:00)."""
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(f"{what} {text!r} is not a time like 2026-12-01T18:00+08:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=HOSPITAL_ZONE)
    return value.isoformat(timespec="seconds")


_LOADED = {}


def _inventory_value(inv, vault, name):
    """The value of NAME for the inventory's first host, templated (the inventory is read once per process)."""
    key = str(inv)
    if key not in _LOADED:
        manager, variables = inventorymod.load_vars(inv, vault)
        hosts = manager.get_hosts()
        if not hosts:
            raise OpsError(f"inventory {inv} has no hosts")
        _LOADED[key] = (variables, variables.get_vars(host=hosts[0]))
    variables, values = _LOADED[key]
    if name not in values:
        return None
    from ansible.template import Templar

    templar = Templar(loader=variables._loader, variables=values)
    return templar.template(values[name])


def _environment(inv, vault):
    env = _inventory_value(inv, vault, "followup_approval_environment")
    return str(env) if env else Path(inv).name


def _signed_index(inv, vault):
    release = _release()
    repository = _inventory_value(inv, vault, "followup_release_repository")
    signers = _inventory_value(inv, vault, "followup_release_signers") or []
    try:
        releases, _ = release.read_signed_index(str(repository), signers)
    except release.ReleaseError as err:
        raise OpsError(f"the signed release index of {inv} cannot be read: {err}") from None
    return releases


def _show_rows(fields):
    labels = {
        "change_id": "变更单号 change id",
        "system": "系统 system",
        "environment": "环境 environment",
        "from_release": "当前版本 from release",
        "to_release": "目标版本 to release",
        "release_sha256": "发布包 sha256 release tarball",
        "test_document": "更新前测试文档 test document",
        "test_document_sha256": "测试文档 sha256 test document",
        "approver": "审批人 approver",
        "approved_at": "审批时间 approved at",
        "valid_until": "有效期至 valid until",
        "notes": "备注 notes",
    }
    return [[label, str(fields[key])] for key, label in labels.items() if fields.get(key) is not None]


class ApprovalCommand(Command):
    """An approval action: works on documents on the control node, never on hosts."""

    uses_inventory = False
    action = ""
    inventory_required = False

    @property
    def name(self):
        return f"approval-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        if self.inventory_required is not None:
            parser.add_argument(
                "-i",
                "--inventory",
                required=self.inventory_required,
                metavar="INVENTORY",
                help="inventory whose approvers, environment and signed release index the approval is checked against",
            )
            parser.add_argument("--vault-password-file", metavar="FILE", help="the inventory's vault password file")
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser

    def inventory(self, args):
        if not getattr(args, "inventory", None):
            return None, None
        inv = inventorymod.resolve(args.inventory)
        return inv, inventorymod.vault_password_file(inv, getattr(args, "vault_password_file", None))


class New(ApprovalCommand):
    action = "new"
    inventory_required = True
    help = "write a new change approval (approval.yml) for IT to sign"
    description = (
        "Write approval.yml, the change approval (变更审批单) of one upgrade: the inventory's environment, the release "
        "the hosts run and the newest release of the inventory's signed release index (with its tarball's sha256), "
        "the pre-upgrade test document (更新前测试文档, copied beside the approval, with its sha256), the approver and "
        "the validity. Nothing is signed yet: the IT department reads it (approval show) and signs it (approval "
        "sign)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--change-id", required=True, help="the change's id in the change register, e.g. CHG-2026-014"
        )
        parser.add_argument(
            "--from", dest="from_release", required=True, metavar="VERSION", help="release the hosts run"
        )
        parser.add_argument(
            "--to", dest="to_release", metavar="VERSION", help="release to install (default: the newest)"
        )
        parser.add_argument(
            "--test-document", required=True, metavar="FILE", help="the pre-upgrade test document (PDF)"
        )
        parser.add_argument("--approver", required=True, help="who approves, e.g. '王丽 (信息科)'")
        parser.add_argument("--approved-at", metavar="TIME", help="approval time (default now), ISO 8601")
        parser.add_argument("--valid-until", required=True, metavar="TIME", help="until when the upgrade may start")
        parser.add_argument("--notes", default="", help="free text: the maintenance window, conditions")
        parser.add_argument("--out", metavar="DIR", help="directory for approval.yml (default approvals/<change id>)")
        parser.add_argument("--force", action="store_true", help="replace an existing approval.yml (and its signature)")

    def details(self, args):
        return {"approval_id": args.change_id, "release": args.to_release, "from_release": args.from_release}

    def run(self, op, args):
        approval = _approval()
        test_doc = Path(args.test_document)
        if not test_doc.is_file():
            raise OpsError(f"test document {test_doc} does not exist: give the PDF that `followup-ops rehearse` wrote")
        releases = _signed_index(op.inventory, op.vault_password_file)
        newest = approval.newest_release(releases, datetime.date.today())
        to = args.to_release or (newest["version"] if newest else None)
        entry = next((r for r in releases if r["version"] == to), None)
        if entry is None:
            raise OpsError(
                f"release {to} is not in the signed release index (available: "
                f"{', '.join(r['version'] for r in releases)}): name a release of the index with --to"
            )
        out = Path(args.out) if args.out else Path("approvals") / args.change_id
        fields = {
            "format": approval.FORMAT,
            "change_id": args.change_id,
            "system": approval.SYSTEM,
            "environment": _environment(op.inventory, op.vault_password_file),
            "from_release": args.from_release,
            "to_release": to,
            "release_sha256": entry["sha256"],
            "test_document": test_doc.name,
            "test_document_sha256": approval.sha256_file(str(test_doc)),
            "approver": args.approver,
            "approved_at": _time(args.approved_at, "--approved-at")
            if args.approved_at
            else datetime.datetime.now(HOSPITAL_ZONE).isoformat(timespec="seconds"),
            "valid_until": _time(args.valid_until, "--valid-until"),
            "notes": args.notes or None,
        }
        try:
            text = approval.render(fields)
        except approval.ApprovalError as err:
            raise OpsError(str(err)) from None
        path = out / approval.DOCUMENT
        if path.exists() and not args.force:
            raise OpsError(f"{path} exists already: give another --out, or --force to replace it")
        with op.local("write"):
            out.mkdir(parents=True, exist_ok=True)
            if test_doc.resolve().parent != out.resolve():
                shutil.copyfile(test_doc, out / test_doc.name)
            Path(approval.signature_path(str(path))).unlink(missing_ok=True)
            path.write_text(text, encoding="utf-8")
        op.file(path, "approval", sha256=approval.sha256_file(str(path)))
        self.path, self.fields = path, fields

    def render(self, op, args):
        print("\n".join(table(["字段 field", "值 value"], _show_rows(self.fields))))
        print(
            f"wrote {self.path} (unsigned): have the IT department check it and sign it with "
            f"`followup-ops approval sign {self.path} --key KEY`"
        )


class Sign(ApprovalCommand):
    action = "sign"
    inventory_required = None
    help = "sign an approval with an approver's SSH key (ssh-keygen -Y sign -n followup-approval)"
    description = (
        "Check the approval document, show what it approves, and sign its exact bytes with the approver's SSH key "
        "(ssh-keygen -Y sign, namespace followup-approval) into approval.yml.sig. Any change to approval.yml after "
        "this makes the upgrade refuse it."
    )

    def add_arguments(self, parser):
        parser.add_argument("approval", metavar="APPROVAL", help="the approval.yml to sign")
        parser.add_argument(
            "--key", required=True, metavar="KEY", help="the approver's private SSH key (lab: .lab/approver-key)"
        )

    def details(self, args):
        return {"approval_file": args.approval}

    def run(self, op, args):
        approval, sshsig = _approval(), _sshsig()
        path = Path(args.approval)
        if not path.is_file():
            raise OpsError(f"approval {path} does not exist: give the path of approval.yml")
        data = path.read_bytes()
        try:
            self.fields = approval.parse(data, str(path))
        except approval.ApprovalError as err:
            raise OpsError(f"{err}: it cannot be signed") from None
        if not Path(args.key).is_file():
            raise OpsError(f"signing key {args.key} does not exist: give the approver's private key with --key")
        with op.local("sign"):
            try:
                signature = sshsig.sign(data, str(args.key), approval.NAMESPACE)
            except sshsig.SignatureError as err:
                raise OpsError(str(err)) from None
            sig_path = Path(approval.signature_path(str(path)))
            tmp = sig_path.with_name(sig_path.name + ".tmp")
            tmp.write_bytes(signature)
            os.replace(tmp, sig_path)
        op.details["approval_id"] = self.fields["change_id"]
        op.file(sig_path, "approval-signature", sha256=approval.sha256_bytes(signature))
        self.sig_path = sig_path

    def render(self, op, args):
        print("\n".join(table(["字段 field", "值 value"], _show_rows(self.fields))))
        print(f"signed: {self.sig_path} (namespace followup-approval)")


class Verify(ApprovalCommand):
    action = "verify"
    inventory_required = True
    help = "check an approval against an inventory: signer, document, validity, environment, release, test document"
    description = (
        "Check an approval as the upgrade gate does, without touching any host: signed by an approver of the "
        "inventory (followup_approval_signers) in namespace followup-approval, unchanged since, not expired, not "
        "used on this control node, for this inventory's environment, to the newest release of its signed index "
        "with the tarball's sha256, no downgrade, the test document beside it unchanged. What the hosts run and "
        "their records are checked by the upgrade itself. Exit 0 when it would pass, 2 with every reason when not."
    )

    def add_arguments(self, parser):
        parser.add_argument("approval", metavar="APPROVAL", help="the signed approval.yml")

    def details(self, args):
        return {"approval_file": args.approval}

    def run(self, op, args):
        approval = _approval()
        path = str(Path(args.approval))
        with op.local("verify"):
            try:
                data, signature, fields, problem = approval.load(path)
            except approval.ApprovalError as err:
                op.gate("approval", [str(err)])
            signers = _inventory_value(op.inventory, op.vault_password_file, approval.SIGNERS_VAR) or []
            signer_error = None
            try:
                self.signer = approval.verify_signature(data, signature, signers, path)
            except approval.ApprovalError as err:
                self.signer, signer_error = None, str(err)
            use = None
            if fields:
                from followup_ops.paths import runs_dir

                record = approval.read_record(str(runs_dir() / "upgrade" / "approvals"), fields["change_id"])
                use = approval.use_refusals(fields["change_id"], record, {}, {}, 0.0, lambda _r: False)
                op.details["approval_id"] = fields["change_id"]
            try:
                releases, index_error = _signed_index(op.inventory, op.vault_password_file), None
            except OpsError as err:
                releases, index_error = None, str(err)
            doc = os.path.join(os.path.dirname(os.path.abspath(path)), fields["test_document"]) if fields else ""
            reasons = approval.evaluate(
                fields,
                problem,
                signer_error,
                _environment(op.inventory, op.vault_password_file),
                datetime.datetime.now(datetime.UTC),
                releases,
                index_error,
                {},
                doc,
                use,
            )
            reasons = [r for r in reasons if not r.startswith("no application-tier host")]
            self.fields = fields
            op.gate("approval", reasons)

    def render(self, op, args):
        print("\n".join(table(["字段 field", "值 value"], _show_rows(self.fields))))
        print(
            f"approval {self.fields['change_id']}: good signature by {self.signer['principal']} "
            f"({self.signer['key']}); "
            f"valid until {self.fields['valid_until']}; release {self.fields['to_release']} and the test document match"
        )


class Show(ApprovalCommand):
    action = "show"
    inventory_required = False
    help = "show what an approval says (and, with -i, whether its signature verifies)"
    description = "Print the fields of an approval.yml in Chinese and English, and its signer when -i is given."

    def add_arguments(self, parser):
        parser.add_argument("approval", metavar="APPROVAL", help="the approval.yml")

    def run(self, op, args):
        approval = _approval()
        path = str(Path(args.approval))
        with op.local("read"):
            try:
                data, signature, fields, problem = approval.load(path)
            except approval.ApprovalError as err:
                raise OpsError(str(err)) from None
            if problem:
                raise OpsError(problem)
            self.fields, self.signed = fields, signature is not None
            self.signer = self.signer_error = None
            if op.inventory is not None and signature is not None:
                signers = _inventory_value(op.inventory, op.vault_password_file, approval.SIGNERS_VAR) or []
                try:
                    self.signer = approval.verify_signature(data, signature, signers, path)
                except approval.ApprovalError as err:
                    self.signer_error = str(err)

    def render(self, op, args):
        print("\n".join(table(["字段 field", "值 value"], _show_rows(self.fields))))
        if not self.signed:
            print("签名 signature: 未签名 not signed")
        elif self.signer:
            print(f"签名 signature: 有效 good, by {self.signer['principal']} ({self.signer['key']})")
        elif self.signer_error:
            print(f"签名 signature: 无效 bad: {self.signer_error}")
        else:
            print("签名 signature: present (give -i INVENTORY to check it against the inventory's approvers)")


ACTIONS = (New(), Sign(), Verify(), Show())


def register(sub):
    parser = sub.add_parser(
        "approval",
        help="change approvals (变更审批单) for upgrades: new, sign, verify, show",
        description="The change approval the hospital's IT department signs before an upgrade (R-SIGNOFF): write one "
        "(new), sign it with an SSH key (sign), check it against an inventory (verify), read it (show). "
        "docs/upgrade.md explains the document and who signs.",
    )
    approval_sub = parser.add_subparsers(dest="approval_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(approval_sub)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run as followup-ops approval ...")
