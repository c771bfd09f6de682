# followup-ops: the control-node half of followup_release_install (docs/releases.md, "Installing on a host").
#
# Nothing a variable says can change which tarball a host installs, its sha256 or the start command it runs:
# - a command line that gets around the gates (--skip-tags always, --start-at-task, -e on a protected name such as
#   followup_release, followup_release_signers or any __ internal) is refused here again (followup_guard);
# - the signed index is read from the inventory's followup_release_repository and verified against the
#   inventory's followup_release_signers (never from task arguments); the task names only the component and the
#   version (and layout options), and a version other than the run's followup_release_version is refused, and so is
#   a tarball other than the one the gates of the run verified and handed over (followup_release);
# - the tarball is found in the signed index, verified here completely, copied to the host's .releases/ by this
#   plugin when it is missing there or differs, and the module re-verifies it on the host against the sha256 from
#   the signed index (the only sha256 it is given).

import os

import ansible.module_utils
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.hashing import checksum as sha1_checksum

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_guard import cli_refusals  # noqa: E402
from ansible.module_utils.followup_layout import (  # noqa: E402
    BASE_DIR,
    COMPONENTS,
    component_root,
    tarball_path,
)
from ansible.module_utils.followup_release import (  # noqa: E402
    INDEX,
    SIGNERS_VAR,
    ReleaseError,
    component_checks,
    find_release,
    read_signed_index,
    verify_tarball,
)

MODULE = "ansible.legacy.followup_release_install"
REPOSITORY_VAR = "followup_release_repository"
REQUEST_VAR = "followup_release_version"
# What the gates of the run verified (playbooks/preflight.yml hands it over with set_fact): the install takes that
# tarball or nothing, even where the inventory names another repository or other signers for one group or host.
VERIFIED_VAR = "followup_release"

# What a task may say. The tarball, its sha256 and the root are not among it: they come from the signed index and
# the layout.
ARGUMENT_SPEC = dict(
    component=dict(type="str", required=True, choices=list(COMPONENTS)),
    version=dict(type="str", required=True),
    base_dir=dict(type="path", default=BASE_DIR),
    listen=dict(type="str"),
    with_migrations=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "current"]),
    keep_releases=dict(type="int", default=5),
    unit_dir=dict(type="path", default="/etc/systemd/system"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def _inventory_value(self, task_vars, name):
        if name not in task_vars:
            raise AnsibleActionFail(
                f"{name} is not set: the inventory must name it (group_vars/all/followup.yml, docs/releases.md)"
            )
        return self._templar.template(task_vars[name])

    def _signed_release(self, task_vars, version):
        """The signed index entry of VERSION and its manifest, both verified on the control node."""
        repository = self._inventory_value(task_vars, REPOSITORY_VAR)
        signers = self._inventory_value(task_vars, SIGNERS_VAR)
        try:
            releases, signer = read_signed_index(to_text(repository), signers)
            entry = find_release(releases, version, os.path.join(to_text(repository), INDEX))
            manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
        except ReleaseError as err:
            raise AnsibleActionFail(f"release {version} refused on the control node: {err}") from None
        return entry, manifest, signer

    def _remote_sha256(self, path, task_vars):
        stat = self._execute_module(
            module_name="ansible.legacy.stat",
            module_args=dict(path=path, follow=False, get_checksum=True, checksum_algorithm="sha256"),
            task_vars=task_vars,
        )
        if stat.get("failed"):
            raise AnsibleActionFail(f"could not read {path} on the host: {stat.get('msg')}")
        info = stat.get("stat") or {}
        if not info.get("exists") or not info.get("isreg") or info.get("islnk"):
            return None
        return info.get("checksum")

    def _copy(self, local, dest, task_vars):
        """Copy the verified tarball to DEST on the host (root:root 0640), through the connection's temp dir."""
        # The base directory must stay traversable by the services (0755); the tarballs are root's only (0750).
        for path, mode in ((os.path.dirname(os.path.dirname(dest)), "0755"), (os.path.dirname(dest), "0750")):
            made = self._execute_module(
                module_name="ansible.legacy.file",
                module_args=dict(path=path, state="directory", owner="root", group="root", mode=mode),
                task_vars=task_vars,
            )
            if made.get("failed"):
                raise AnsibleActionFail(f"could not create {path} on the host: {made.get('msg')}")
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        tmp_src = self._connection._shell.join_path(self._connection._shell.tmpdir, os.path.basename(dest))
        self._transfer_file(local, tmp_src)
        self._fixup_perms2((self._connection._shell.tmpdir, tmp_src))
        copied = self._execute_module(
            module_name="ansible.legacy.copy",
            module_args=dict(
                src=tmp_src,
                dest=dest,
                owner="root",
                group="root",
                mode="0640",
                follow=False,
                checksum=sha1_checksum(local),
                _original_basename=os.path.basename(dest),
            ),
            task_vars=task_vars,
        )
        if copied.get("failed"):
            raise AnsibleActionFail(f"copying the release tarball to {dest} failed: {copied.get('msg')}")

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        try:
            return self._run(result, task_vars)
        except AnsibleActionFail as err:
            result.update(failed=True, msg=to_text(err.message))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _run(self, result, task_vars):
        reasons = cli_refusals()
        if reasons:
            raise AnsibleActionFail("followup-ops refused the run on this host: " + "; ".join(reasons))
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        version = args["version"]
        if REQUEST_VAR in task_vars:
            requested = to_text(self._templar.template(task_vars[REQUEST_VAR]))
            if requested != version:
                raise AnsibleActionFail(
                    f"release {version} is not the release this run verified ({REQUEST_VAR}={requested}): "
                    "deploy one release per run"
                )
        if args["keep_releases"] < 2:
            raise AnsibleActionFail("keep_releases must be at least 2 (the current and the previous release)")
        entry, manifest, signer = self._signed_release(task_vars, version)
        if VERIFIED_VAR in task_vars:
            verified = self._templar.template(task_vars[VERIFIED_VAR])
            if (
                not isinstance(verified, dict)
                or to_text(verified.get("version")) != version
                or to_text(verified.get("sha256")) != entry["sha256"]
            ):
                shown = verified.get("sha256") if isinstance(verified, dict) else verified
                raise AnsibleActionFail(
                    f"release {version} from {entry['path']} (sha256 {entry['sha256']}) is not the tarball the gates "
                    f"of this run verified ({VERIFIED_VAR}: {shown}): this host's {REPOSITORY_VAR} or {SIGNERS_VAR} "
                    "differ from the ones the gates read; set them once for the whole inventory (group_vars/all)"
                )
        component = args["component"]
        root = component_root(component, args["base_dir"])
        try:
            checks, fact = component_checks(component, manifest, args["listen"], root)
        except ReleaseError as err:
            raise AnsibleActionFail(str(err)) from None
        dest = tarball_path(version, args["base_dir"])
        pending = self._remote_sha256(dest, task_vars) != entry["sha256"]
        if pending and not self._task.check_mode:
            self._copy(entry["path"], dest, task_vars)
        module_args = dict(
            component=component,
            version=version,
            tarball=dest,
            sha256=entry["sha256"],
            root=root,
            base_dir=args["base_dir"],
            listen=args["listen"],
            with_migrations=args["with_migrations"],
            state=args["state"],
            keep_releases=args["keep_releases"],
            unit_dir=args["unit_dir"],
            tarball_pending=bool(pending and self._task.check_mode),
        )
        installed = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        result.update(installed)
        if installed.get("failed"):
            return result
        # Check mode before the tarball is on the host: the module saw only the layout; the manifest verified here
        # tells what the release holds.
        result.setdefault("component", manifest["components"][component])
        result.setdefault("migrations", manifest["migrations"])
        result.setdefault("release_date", manifest["release_date"])
        result.setdefault("checks", checks)
        result.setdefault("local_fact", fact)
        result.update(
            tarball=dest,
            tarball_copied=pending,
            signer=signer,
            changed=bool(installed.get("changed")) or pending,
        )
        return result
