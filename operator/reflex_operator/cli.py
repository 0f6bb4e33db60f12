"""The ``reflex-operator`` command: ``run``, ``crds`` and ``dev``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from reflex_operator.k8s.main import run

    return run(verbose=args.verbose)


def _cmd_crds(args: argparse.Namespace) -> int:
    from reflex_operator.api.crd import write_crds

    for path in write_crds(args.output):
        print(path)
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from reflex_operator.dev import stack

    return stack.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reflex-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator (configured by REFLEX_* and AWS_* variables)")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_cmd_run)

    crds = sub.add_parser("crds", help="write the CRD YAML generated from the API models")
    crds.add_argument("--output", default="crds", help="directory to write into (default: crds)")
    crds.set_defaults(func=_cmd_crds)

    dev = sub.add_parser("dev", help="the local stack: control plane, AWS emulator, simulator")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    up = dev_sub.add_parser("up", help="start the local stack, detached and idempotently")
    up.add_argument("--no-operator", action="store_true", help="do not start the operator")
    dev_sub.add_parser("down", help="stop everything `dev up` started")
    dev_sub.add_parser("controlplane", help="build (or reuse) the kube-apiserver, etcd and kubectl binaries")
    demo = dev_sub.add_parser("demo", help="dev up, apply the example, watch it become Ready")
    demo.add_argument("--timeout", type=float, default=180.0)
    dev.set_defaults(func=_cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
