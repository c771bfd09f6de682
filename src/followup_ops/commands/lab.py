"""`followup-ops lab`: the local lab of real hosts (Docker containers running systemd and sshd)."""

import argparse
import json
import sys

from followup_ops.commands.common import Command
from followup_ops.errors import EXIT_OK, OpsError
from followup_ops.lab import images
from followup_ops.lab import lab as labmod
from followup_ops.paths import lab_inventory, repo_root
from followup_ops.textui import table


def _scale(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a whole number from 1 to 100, not '{text}'") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"--scale must be from 1 to 100, not {value}")
    return value


class LabCommand(Command):
    """A lab action: runs on the lab inventory, with the lab's own vault password."""

    uses_inventory = False
    action = ""

    @property
    def name(self):
        return f"lab-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser

    def inventory(self, args):
        return lab_inventory(), self.vault()

    def vault(self):
        vault = labmod.vault_password_file()
        if not vault.exists():
            raise OpsError("the lab is not set up: run `followup-ops lab up` first, then retry")
        return vault


class Up(LabCommand):
    action = "up"
    help = "build the lab images if needed and start the lab hosts (idempotent)"
    description = (
        "Build the lab images when their inputs changed (tags are hashes of the inputs), make the lab's SSH key and "
        "vault once, start the lab hosts and set up the lab's stand-in telephone network (carrier1); a second run "
        "reuses what exists."
    )
    changes_hosts = True
    interrupt_hint = "run `followup-ops lab up` again: it starts what is missing"

    def add_arguments(self, parser):
        parser.add_argument("--spares", action="store_true", help="also start the spare hosts (group spare)")

    def inventory(self, args):
        # The vault is made by `up` itself, so it may not exist yet.
        labmod.ensure_secrets()
        return lab_inventory(), labmod.vault_password_file()

    def run(self, op, args):
        with op.local("containers"):
            self.hosts = labmod.up(spares=args.spares)
        op.hosts |= {h.name for h in self.hosts}
        if (repo_root() / "playbooks" / "lab" / "carrier.yml").is_file() and any(
            "carrier" in h.groups for h in self.hosts
        ):
            op.quiet = True
            op.playbook("carrier", "lab/carrier.yml", limit="carrier")

    def render(self, op, args):
        took = sum(s.duration for s in op.steps)
        print(f"lab: up in {took:.0f}s: " + ", ".join(f"{h.name} {h.address}" for h in self.hosts))


class Down(LabCommand):
    action = "down"
    help = "remove the lab containers and network (images, key and vault stay)"
    changes_hosts = True

    def inventory(self, args):
        return lab_inventory(), None

    def run(self, op, args):
        with op.local("containers"):
            self.names = labmod.down()
        op.hosts |= {n.removeprefix(labmod.CONTAINER_PREFIX) for n in self.names}

    def render(self, op, args):
        if not self.names:
            print("lab: nothing to remove")


class Seed(LabCommand):
    action = "seed"
    help = "load synthetic, deterministic follow-up data into the lab's databases"
    description = (
        "Runs the deployed release's seed program on the app host: SCALE x 1000 synthetic patients (never real "
        "persons), 10 follow-up tasks and 10 call records each. --scale 100 gives 100k patients, 1M tasks and 1M call "
        "records. Running the same scale again adds nothing."
    )
    changes_hosts = True
    interrupt_hint = "run the same seed again: it adds only what is missing"

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=_scale, default=1, help="size of the data set (1 to 100; default 1)")

    def details(self, args):
        return {"scale": args.scale}

    def run(self, op, args):
        op.playbook("seed", "lab/seed.yml", extravars={"followup_seed_scale": args.scale})

    def render(self, op, args):
        seed = (op.report.get("data") or {}).get("seed") or {}
        for host, result in sorted(seed.items()):
            print(f"seed: {host}: {result.get('summary') or result}")


class Smoke(LabCommand):
    action = "smoke"
    help = "one request through the front-end server, then check the task in MySQL and the call in MongoDB"
    description = (
        "POSTs a follow-up call request to https://<fep>/api/tasks (nginx, TLS) for a synthetic patient: the app "
        "writes the task to MySQL and the voice program places the call over SIP and writes the call record to "
        "MongoDB. Then reads both databases as the application does. Lab only."
    )
    changes_hosts = True

    def run(self, op, args):
        op.playbook("smoke", "lab/smoke.yml")
        smoke = (op.report.get("data") or {}).get("smoke") or {}
        if not smoke.get("task"):
            raise OpsError(f"lab/smoke.yml reported no task: see {op.run_dir}")

    def render(self, op, args):
        smoke = op.report["data"]["smoke"]
        task, call = smoke["task"], smoke.get("call") or {}
        print(
            f"smoke: ok: 任务 task {task.get('id')} in MySQL cloud_followup.followup_tasks; "
            f"通话 call {call.get('call_id')} ({call.get('result')}) in MongoDB cdr.call_records"
        )


def cmd_image(args):
    tag = images.ensure_images(log=lambda text: print(text, file=sys.stderr))
    print(tag)
    return EXIT_OK


def cmd_status(args):
    rows = labmod.status()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    lines = table(
        ["主机 Host", "地址 Address", "容器 Container", "SSH", "组 Groups"],
        [[r["host"], r["address"], r["container"], r["ssh"], ",".join(r["groups"])] for r in rows],
    )
    print("\n".join(lines))
    return EXIT_OK


ACTIONS = (Up(), Down(), Seed(), Smoke())


def register(sub):
    parser = sub.add_parser(
        "lab",
        help="start, stop, inspect and seed the local lab",
        description="The local lab: Debian 12 containers (systemd, sshd) on the Docker network followup-lab, "
        "reached over SSH as the user ops like production hosts. Hosts come from inventories/lab/hosts.yml.",
    )
    lab_sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(lab_sub)
    image = lab_sub.add_parser(
        "image",
        help="build the lab images if needed and print the node image tag (used by Molecule)",
        description="Build followup-lab/base (debootstrap) and followup-lab/node (docker build) when their inputs "
        "changed, then print the node image tag on stdout. Progress goes to stderr.",
    )
    image.set_defaults(func=cmd_image)
    status = lab_sub.add_parser("status", help="show each lab host: address, container state, SSH (read-only)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=cmd_status)
    return parser
