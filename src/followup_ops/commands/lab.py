"""`followup-ops lab`: the local lab of real hosts (Docker containers running systemd and sshd)."""

import argparse
import json
import sys
import time

from followup_ops import audit, runner
from followup_ops.errors import EXIT_OK, OpsError
from followup_ops.lab import images
from followup_ops.lab import lab as labmod
from followup_ops.paths import lab_inventory
from followup_ops.textui import table


def add_parser(sub):
    parser = sub.add_parser(
        "lab",
        help="start, stop, inspect and seed the local lab",
        description="The local lab: Debian 12 containers (systemd, sshd) on the Docker network followup-lab, "
        "reached over SSH as the user ops like production hosts. Hosts come from inventories/lab/hosts.yml.",
    )
    lab_sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    up = lab_sub.add_parser(
        "up",
        help="build the lab images if needed and start the lab hosts (idempotent)",
        description="Build the lab images when their inputs changed (tags are hashes of the inputs), make the "
        "lab's SSH key and vault once, and start the lab hosts; a second run reuses what exists.",
    )
    up.add_argument("--spares", action="store_true", help="also start the spare hosts app2, mysql2 and mongo2")
    up.set_defaults(func=cmd_up)

    image = lab_sub.add_parser(
        "image",
        help="build the lab images if needed and print the node image tag (used by Molecule)",
        description="Build followup-lab/base (debootstrap) and followup-lab/node (docker build) when their inputs "
        "changed, then print the node image tag on stdout. Progress goes to stderr.",
    )
    image.set_defaults(func=cmd_image)

    down = lab_sub.add_parser("down", help="remove the lab containers and network (images, key and vault stay)")
    down.set_defaults(func=cmd_down)

    status = lab_sub.add_parser("status", help="show each lab host: address, container state, SSH")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=cmd_status)

    seed = lab_sub.add_parser(
        "seed",
        help="load synthetic, deterministic follow-up data into the lab's databases",
        description="Runs the deployed release's seed program on the app host: SCALE x 1000 synthetic patients "
        "(never real persons), 10 follow-up tasks and 10 call records each. --scale 100 gives 100k patients, "
        "1M tasks and 1M call records. Running the same scale again adds nothing.",
    )
    seed.add_argument("--scale", type=_scale, default=1, help="size of the data set (1 to 100; default 1)")
    seed.set_defaults(func=cmd_seed)

    smoke = lab_sub.add_parser(
        "smoke",
        help="one request through the front-end server, then check the task in MySQL and the call in MongoDB",
        description="POSTs a follow-up call request to https://<fep>/api/tasks (nginx, TLS) for a synthetic patient: "
        "the app writes the task to MySQL and the voice program places the call over SIP and writes the call "
        "record to MongoDB. Then reads both databases as the application does. Lab only.",
    )
    smoke.set_defaults(func=cmd_smoke)


def _scale(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a whole number from 1 to 100, not '{text}'") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"--scale must be from 1 to 100, not {value}")
    return value


def _audited(command, args, action):
    """Run ACTION (returning the hosts it acted on) and write its audit line, whether it worked or not."""
    started_at, started = audit.now(), time.monotonic()
    hosts, error = [], None
    try:
        hosts = action()
    except BaseException as err:  # an interrupted or failed run is recorded as failed, then goes on up
        error = str(err) or type(err).__name__
        raise
    finally:
        took = time.monotonic() - started
        audit.record_local(
            command=command,
            argv=args.argv,
            hosts=hosts,
            ok=error is None,
            started_at=started_at,
            duration=took,
            error=error,
        )
    return took


def cmd_up(args):
    hosts = []

    def action():
        hosts.extend(labmod.up(spares=args.spares))
        return [h.name for h in hosts]

    took = _audited("lab-up", args, action)
    print(f"lab: up in {took:.0f}s: " + ", ".join(f"{h.name} {h.address}" for h in hosts))
    return EXIT_OK


def cmd_image(args):
    tag = images.ensure_images(log=lambda text: print(text, file=sys.stderr))
    print(tag)
    return EXIT_OK


def cmd_down(args):
    names = []

    def action():
        names.extend(labmod.down())
        return [n.removeprefix(labmod.CONTAINER_PREFIX) for n in names]

    _audited("lab-down", args, action)
    if not names:
        print("lab: nothing to remove")
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


def _lab_vault():
    vault = labmod.vault_password_file()
    if not vault.exists():
        raise OpsError("the lab is not set up: run `followup-ops lab up` and `followup-ops deploy` first")
    return vault


def cmd_seed(args):
    inventory = lab_inventory()
    vault = _lab_vault()
    result = runner.run_playbook(
        "lab-seed",
        "lab/seed.yml",
        inventory,
        extravars={"followup_seed_scale": args.scale},
        vault_password_file=vault,
        argv=args.argv,
    )
    runner.raise_for_result(result)
    return EXIT_OK


def cmd_smoke(args):
    result = runner.run_playbook(
        "lab-smoke",
        "lab/smoke.yml",
        lab_inventory(),
        vault_password_file=_lab_vault(),
        argv=args.argv,
        watch=("assert",),
    )
    runner.raise_for_result(result)
    for _host, _action, res in result.results:
        if "任务" in str(res.get("msg", "")):
            print(f"smoke: ok: {res['msg']}")
    return EXIT_OK
