"""The ``reflex-dev`` command: ``up``, ``down``, ``demo``, ``controlplane`` and ``image`` for the local stack."""

from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "main"]


def _cmd(args: argparse.Namespace) -> int:
    if args.dev_command == "image":
        from reflex_dev import image

        return image.main()
    from reflex_dev import stack

    return stack.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reflex-dev", description="the local stack: control plane, AWS emulator, simulator, operator"
    )
    sub = parser.add_subparsers(dest="dev_command", required=True)
    up = sub.add_parser("up", help="start the local stack, detached and idempotently")
    up.add_argument("--no-operator", action="store_true", help="do not start the operator")
    sub.add_parser("down", help="stop everything `reflex-dev up` started")
    sub.add_parser("controlplane", help="build (or reuse) the kube-apiserver, etcd and kubectl binaries")
    sub.add_parser("image", help="build the operator's image here with buildah (Debian base, the lock's wheels)")
    demo = sub.add_parser("demo", help="up, apply the example, watch it become Ready")
    demo.add_argument("--timeout", type=float, default=180.0)
    parser.set_defaults(func=_cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
