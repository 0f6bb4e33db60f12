"""The ``reflex-operator`` command: ``run`` and ``crds``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from reflex_operator.controller.run import run

    return run(verbose=args.verbose)


def _cmd_crds(args: argparse.Namespace) -> int:
    from reflex_operator.crdgen.write import write_all

    for path in write_all(args.output, args.docs):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reflex-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator (configured by REFLEX_* and AWS_* variables)")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_cmd_run)

    crds = sub.add_parser("crds", help="write the CRDs and docs/api.md, generated from the API models")
    crds.add_argument("--output", default="crds", help="directory the CRDs are written into (default: crds)")
    crds.add_argument("--docs", default="docs/api.md", help="the API reference written (default: docs/api.md)")
    crds.set_defaults(func=_cmd_crds)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
