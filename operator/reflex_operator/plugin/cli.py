"""``kubectl reflex``: show a ReflexDatabase, or act on one or a fleet of them.

Every action is the spec change the README cookbook documents, sent as a merge patch (field
manager ``kubectl-reflex``). A database whose ``status.allowedActions`` refuses the action is not
written; the command then exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

import yaml

from reflex_operator.api.models import ReflexDatabaseStatus, Size
from reflex_operator.aws.logs import LogReader
from reflex_operator.database import cost, logs
from reflex_operator.plugin import render
from reflex_operator.actions import verbs
from reflex_operator.plugin.cluster import Cluster, Changed, PluginError, Rollouts, connect
from reflex_operator.api.rollout import ReflexRolloutSpec, ReflexRolloutStatus
from reflex_operator.fleet.rollout import CONTROLS, control_patch

__all__ = ["main", "build_parser"]

FAILED = frozenset({"refused", "failed", "stalled", "timeout"})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _token(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


@dataclass
class _Io:
    out: TextIO
    err: TextIO
    paint: render.Paint
    sleep: Callable[[float], None] = time.sleep


def _dump(data: Any, fmt: str, io: _Io) -> None:
    io.out.write(json.dumps(data, indent=2) + "\n" if fmt == "json" else yaml.safe_dump(data, sort_keys=False))


def _targets(args: argparse.Namespace, cluster: Cluster) -> list[dict[str, Any]]:
    chosen = sum(bool(x) for x in (args.name, args.selector, args.all or args.all_namespaces))
    if chosen != 1:
        raise PluginError("name one database, or select a fleet with -l SELECTOR, --all or -A (one of them)")
    if args.name:
        return [cluster.get(args.name)]
    return cluster.list(args.selector, args.all_namespaces)


def _act_one(args: argparse.Namespace, cluster: Cluster, obj: dict[str, Any], token: str) -> tuple[render.Report, verbs.Change, int]:
    """Decide on the object as read and patch on its resourceVersion; when it changed in between
    (the operator wrote its status), read it again and decide again."""
    for _ in range(_ATTEMPTS):
        try:
            return _act_on(args, cluster, obj, token)
        except Changed:
            obj = cluster.get(obj["metadata"]["name"], obj["metadata"]["namespace"])
    meta = obj["metadata"]
    why = f"the object kept changing ({_ATTEMPTS} conflicts in a row)"
    return render.Report(meta["namespace"], meta["name"], "failed", why), verbs.change(args.verb, obj, getattr(args, "arg", None), token), 0


_ATTEMPTS = 5


def _act_on(args: argparse.Namespace, cluster: Cluster, obj: dict[str, Any], token: str) -> tuple[render.Report, verbs.Change, int]:
    meta = obj["metadata"]
    outcome = lambda result, detail="": render.Report(meta["namespace"], meta["name"], result, detail)  # noqa: E731
    p = verbs.change(args.verb, obj, getattr(args, "arg", None), token)
    if p.refused is not None:
        return outcome("refused", p.refused), p, 0
    if not p.patch:
        return outcome("unchanged", f"already {p.expect}"), p, 0
    change = json.dumps(p.patch, separators=(",", ":"))
    queued = f" (queued: {p.queued})" if p.queued else ""
    try:
        written = cluster.patch(obj, p.patch, dry_run=args.dry_run)
    except Changed:
        raise
    except PluginError as exc:
        return outcome("failed", str(exc)), p, 0
    generation = int(written["metadata"].get("generation", 0))
    return outcome("would patch" if args.dry_run else "patched", change + queued), p, generation


def _wait(cluster: Cluster, pending: list[tuple[int, verbs.Change, int]], outcomes: list[render.Report], timeout: float, io: _Io) -> None:
    """Poll each acted-on database until it reaches its result, stalls, or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: dict[int, dict[str, Any]] = {}
    while pending:
        still = []
        for index, p, generation in pending:
            o = outcomes[index]
            last[index] = cluster.get(o.name, o.namespace)
            now = verbs.progress(last[index], generation, p)
            if now.done:
                outcomes[index] = render.Report(o.namespace, o.name, "done", p.expect)
            elif now.stalled is not None:
                outcomes[index] = render.Report(o.namespace, o.name, "stalled", now.stalled)
            else:
                still.append((index, p, generation))
        pending = still
        if pending and time.monotonic() >= deadline:
            for index, p, _ in pending:
                o = outcomes[index]
                st = last[index].get("status") or {}
                where = f"phase {st.get('phase', '-')}: {st.get('message') or '-'}"
                outcomes[index] = render.Report(o.namespace, o.name, "timeout", f"not {p.expect} after {timeout:g}s ({where})")
            return
        if pending:
            io.sleep(1.0)


def _cmd_verb(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    token = _token(_now())
    outcomes: list[render.Report] = []
    pending: list[tuple[int, verbs.Change, int]] = []
    for obj in _targets(args, cluster):
        outcome, p, generation = _act_one(args, cluster, obj, token)
        if outcome.result == "patched" and args.wait:
            pending.append((len(outcomes), p, generation))
        outcomes.append(outcome)
    _wait(cluster, pending, outcomes, args.timeout, io)
    if args.output:
        _dump([asdict(o) for o in outcomes], args.output, io)
    else:
        for o in outcomes:
            io.out.write(render.outcome_line(o, io.paint, with_namespace=args.all_namespaces) + "\n")
        if len(outcomes) != 1 or not args.name:
            io.out.write(render.summary(outcomes) + "\n")
    return 1 if any(o.result in FAILED for o in outcomes) else 0


def _cmd_status(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    obj = cluster.get(args.name)
    if args.output:
        _dump(obj.get("status") or {}, args.output, io)
    else:
        io.out.write(render.status_screen(obj, _now(), io.paint))
    return 0


def _cmd_builds(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    if args.name is None:  # the fleet's shared builds
        items = cluster.fleet_builds()
        if args.output:
            _dump({"items": items}, args.output, io)
        else:
            io.out.write(render.fleet_builds_table(items, _now(), io.paint))
        return 0
    obj = cluster.get(args.name)
    status = obj.get("status") or {}
    if args.output:
        _dump({"activeBuildId": status.get("activeBuildId"), "builds": status.get("builds", [])}, args.output, io)
    else:
        io.out.write(render.builds_table(obj, _now(), io.paint))
    return 0


def _cmd_notifications(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    obj = cluster.get(args.name)
    if args.ack:
        p = verbs.ack_change(obj, _now().isoformat().replace("+00:00", "Z"))
        written = cluster.patch(obj, p.patch, dry_run=args.dry_run, precondition=False)
        if args.wait and not args.dry_run:
            outcomes = [render.Report(obj["metadata"]["namespace"], args.name, "patched")]
            _wait(cluster, [(0, p, int(written["metadata"].get("generation", 0)))], outcomes, args.timeout, io)
            if outcomes[0].result in FAILED:
                io.err.write(render.outcome_line(outcomes[0]) + "\n")
                return 1
        obj = cluster.get(args.name) if not args.dry_run else obj
    status = obj.get("status") or {}
    if args.output:
        keys = ("notifications", "unseenCount", "skippedCount")
        _dump({k: status.get(k) for k in keys}, args.output, io)
    else:
        io.out.write(render.notifications_table(obj, _now(), io.paint))
    return 0


def _cmd_cost(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    """The running cost now of each database, and the totals per namespace and per plan."""
    objs = [cluster.get(args.name)] if args.name else cluster.list(args.selector, args.all_namespaces)
    now, rows, totals = _now(), [], {}
    for o in objs:
        st = ReflexDatabaseStatus.model_validate(o.get("status") or {})
        f = cost.figures(st.cost, now) if st.cost else None
        rows.append({"namespace": o["metadata"]["namespace"], "name": o["metadata"]["name"], "plan": st.plan.name if st.plan else None,
                     "tasks": st.cost.tasks if st.cost else None, "hourlyUsd": f.hourly_usd if f else None,
                     "monthUsd": f.month_usd if f else None, "totalUsd": f.total_usd if f else None})
        for key in (("namespace", rows[-1]["namespace"]), ("plan", rows[-1]["plan"] or "(none)")):
            t = totals.setdefault(key, {"databases": 0, "hourlyUsd": 0.0, "monthUsd": 0.0})
            t["databases"] += 1
            t["hourlyUsd"] = round(t["hourlyUsd"] + (f.hourly_usd if f else 0), 6)
            t["monthUsd"] = round(t["monthUsd"] + (f.month_usd if f else 0), 6)
    if args.output:
        _dump({"month": cost.month_of(now), "databases": rows, "totals": [{"by": k[0], "key": k[1], **v} for k, v in sorted(totals.items())]}, args.output, io)
        return 0
    io.out.write(f"{'NAMESPACE':<16} {'NAME':<24} {'TASKS':>5} {'USD/HOUR':>10} {'USD ' + cost.month_of(now):>12} {'USD TOTAL':>11}\n")
    num = lambda v, w: f"{v:>{w}.4f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
    for r in rows:
        io.out.write(f"{r['namespace']:<16} {r['name']:<24} {r['tasks'] if r['tasks'] is not None else '-':>5} "
                     f"{num(r['hourlyUsd'], 10)} {num(r['monthUsd'], 12)} {num(r['totalUsd'], 11)}\n")
    for (by, key), t in sorted(totals.items()):
        io.out.write(f"total {by} {key}: {t['databases']} databases, {t['hourlyUsd']:.4f} USD/hour, {t['monthUsd']:.4f} USD this month\n")
    io.out.write(f"prices: AWS Fargate on-demand ({cost.PRICES_SOURCE}, {cost.PRICES_AS_OF}; REFLEX_FARGATE_PRICES overrides)\n")
    return 0


def _cmd_logs(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    """The server's (or a build's) log lines from CloudWatch Logs, redacted; -f follows."""
    obj = cluster.get(args.name)
    status = ReflexDatabaseStatus.model_validate(obj.get("status") or {})
    try:
        since = logs.parse_since(args.since)
        source = logs.source_for(status, True if args.build == "" else args.build)
    except (ValueError, logs.NoLogs) as exc:
        raise PluginError(str(exc)) from exc
    reader = LogReader()
    start, seen = int((_now() - since).timestamp() * 1000), set()
    deadline = time.monotonic() + args.follow_for if args.follow_for else None
    try:
        while True:
            try:
                lines = reader.read(source, start, args.limit)
            except logs.NoLogs as exc:
                if not args.follow:
                    raise PluginError(str(exc)) from exc
                lines = []
            for line in lines:
                key = (line.timestamp_ms, line.stream, line.message)
                if key not in seen:
                    seen.add(key)
                    stamp = datetime.fromtimestamp(line.timestamp_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                    io.out.write(f"{stamp} {line.message}\n")
                    start = max(start, line.timestamp_ms)
            seen = {key for key in seen if key[0] >= start}  # the next read starts at ``start``: older lines cannot come again
            io.out.flush()
            if not args.follow or (deadline is not None and time.monotonic() >= deadline):
                return 0
            io.sleep(2.0)
    except KeyboardInterrupt:  # -f ends with Ctrl-C, as kubectl logs -f does: no traceback
        io.out.flush()
        return 130


def _cmd_rollout(args: argparse.Namespace, cluster: Cluster, io: _Io) -> int:
    """``kubectl reflex rollout [list | status NAME | pause NAME | resume NAME | abort NAME]``."""
    rollouts = Rollouts(cluster.api)
    action = args.action or "list"
    if action == "list":
        items = rollouts.list()
        if args.output:
            _dump(items, args.output, io)
        else:
            io.out.write(render.rollouts_table(items, _now(), io.paint))
        return 0
    if not args.name:
        raise PluginError(f"rollout {action}: name the rollout (kubectl reflex rollout list)")
    obj = rollouts.get(args.name)
    if action == "status":
        if args.output:
            _dump(obj, args.output, io)
        else:
            io.out.write(render.rollout_screen(obj, _now(), io.paint))
        return 0
    spec = ReflexRolloutSpec.model_validate(obj.get("spec") or {})
    status = ReflexRolloutStatus.model_validate(obj.get("status") or {})
    try:
        patch = control_patch(action, spec, status, _token(_now()))
    except ValueError as exc:
        io.out.write(f"{args.name}: refused: {exc}\n")
        return 1
    rollouts.patch(args.name, patch)
    io.out.write(f"{args.name}: patched: {json.dumps(patch, separators=(',', ':'))}\n")
    return 0


def _common(parser: argparse.ArgumentParser, output: bool = True) -> None:
    g = parser.add_argument_group("cluster (as kubectl)")
    g.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    g.add_argument("--context", help="the kubeconfig context (default: the current one)")
    g.add_argument("-n", "--namespace", help="the namespace (default: the context's, else default)")
    if output:
        parser.add_argument("-o", "--output", choices=("json", "yaml"), help="machine-readable output")


def _fleet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--selector", help="act on every database matching this label selector")
    parser.add_argument("--all", action="store_true", help="act on every database in the namespace")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="act on every database in every namespace")
    parser.add_argument("--dry-run", action="store_true", help="show what would change (validated by the API server), write nothing")
    parser.add_argument("--wait", action="store_true", help="wait for each database to reach the result")
    parser.add_argument("--timeout", type=float, default=600.0, help="how long --wait waits, in seconds (600)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl reflex", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, helptext, func in (("status", "one screen: phase, health, build, config, conditions, actions, notifications", _cmd_status),
                                 ("builds", "the build history, newest first, the active one marked; without NAME, "
                                            "the fleet's shared builds, who uses each and their cost", _cmd_builds)):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("name", metavar="NAME", nargs="?" if name == "builds" else None)
        _common(p)
        p.set_defaults(func=func)
    p = sub.add_parser("notifications", help="the notifications; --ack marks them seen", description="the notifications; --ack marks them seen")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--ack", action="store_true", help="mark every notification seen (the reflexdb.cloud/notifications-seen annotation)")
    p.add_argument("--dry-run", action="store_true", help="with --ack: write nothing")
    p.add_argument("--wait", action="store_true", help="with --ack: wait until status shows no unseen notification")
    p.add_argument("--timeout", type=float, default=60.0, help="how long --wait waits, in seconds (60)")
    _common(p)
    p.set_defaults(func=_cmd_notifications)
    p = sub.add_parser("cost", help="the running cost now (Fargate prices), per database and totals per namespace and plan",
                       description="the running cost now (Fargate prices), per database and totals per namespace and plan")
    p.add_argument("name", metavar="NAME", nargs="?", help="the database (or -l, --all, -A; default: --all)")
    p.add_argument("-l", "--selector", help="the databases matching this label selector")
    p.add_argument("--all", action="store_true", help="every database in the namespace (the default)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every database in every namespace")
    _common(p)
    p.set_defaults(func=_cmd_cost)
    p = sub.add_parser("logs", help="the server's logs, or a build's (--build), from CloudWatch Logs; passwords masked",
                       description="the server's logs, or a build's (--build [ID], default the latest), from CloudWatch Logs "
                       "(AWS credentials and Region from the standard AWS variables); passwords and connection strings masked")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("--follow-for", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--since", default="1h", help="how far back: 30s, 10m, 2h, 1d (1h)")
    p.add_argument("--build", nargs="?", const="", default=None, metavar="ID", help="a build's log (its id; none: the latest build)")
    p.add_argument("--limit", type=int, default=1000, help="at most this many lines a read (1000)")
    _common(p, output=False)
    p.set_defaults(func=_cmd_logs)
    helptext = "fleet rollouts of a new default server version: list, status NAME, pause NAME, resume NAME (also lifts a halt), abort NAME"
    p = sub.add_parser("rollout", help=helptext, description=helptext)
    p.add_argument("action", metavar="ACTION", nargs="?", choices=("list", "status", *CONTROLS), help="list (default), status, pause, resume or abort")
    p.add_argument("name", metavar="NAME", nargs="?", help="the ReflexRollout (kubectl reflex rollout list)")
    _common(p)
    p.set_defaults(func=_cmd_rollout)
    for verb in verbs.VERBS.values():
        p = sub.add_parser(verb.name, help=verb.help, description=verb.help)
        p.add_argument("name", metavar="NAME", nargs="?", help="the database (or use -l, --all, -A)")
        if verb.arg == "SIZE":
            p.add_argument("arg", metavar="SIZE", choices=[s.value for s in Size], help="one of " + ", ".join(s.value for s in Size))
        elif verb.arg:
            p.add_argument("arg", metavar=verb.arg, help="a build id from `kubectl reflex builds NAME`")
        _fleet(p)
        _common(p)
        p.set_defaults(func=_cmd_verb, verb=verb.name)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    io = _Io(out or sys.stdout, err or sys.stderr, render.Paint(on=(out or sys.stdout).isatty() and "NO_COLOR" not in os.environ))
    args = build_parser().parse_args(argv)
    try:
        cluster = connect(args.kubeconfig, args.context, args.namespace)
        return int(args.func(args, cluster, io))
    except PluginError as exc:
        io.err.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
