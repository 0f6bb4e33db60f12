"""The fleet's shared builds, operator-wide: which builds this installation has made (by input
hash and by idempotency token), one StartBuild per token however many databases ask for it at
once, and the ReflexBuild resources that record each start before it is sent.

Why no shared build is started twice, whatever crashed or was wiped:

- a start's idempotency token is the installation's, the inputs' and the attempt's
  (``identity.shared_build_token``): the same for every database, replica and restart;
- the start is recorded (a ReflexBuild: token, time) before StartBuild is sent, as a database's
  own intent is (``database.intent``); an operator restarted at any point reads the records
  (``prime``): a start within CodeBuild's idempotency window is sent again (the same token
  returns the same build), an older one is looked for in the project back to its time first;
- with no record of this installation at all (a fresh install, or a Kubernetes control plane
  rebuilt from nothing with AWS kept), ``prime`` reads the project's builds once, newest first
  (``ListBuildsForProject`` and ``BatchGetBuilds``, 100 a call, at most
  ``REFLEX_BUILD_FIND_MAX_BUILDS``), and every build of this installation
  (``REFLEX_CLUSTER_IDENTITY`` on the build) is known again before any database is judged.

The rules (who uses a build, when one is stopped or deleted, what a record says) are pure, in
``database.fleet``; the sweep that applies them is the poller's (``controller.poller``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime

from reflex_operator.database import fleet as rules
from reflex_operator.database.inputs import ObservedBuild
from reflex_operator.database.steps import FindBuild, StartBuild
from reflex_operator.ports import BuildRegistry, Builds

__all__ = ["FleetBuilds"]

log = logging.getLogger("reflex_operator.fleet")


class FleetBuilds:
    """The shared builds this installation knows, kept current by starts, records and polls."""

    def __init__(self, cluster_identity: str = "default", fresh_seconds: float = 240.0) -> None:
        self.identity = cluster_identity
        self.fresh_seconds = fresh_seconds  # CodeBuild's idempotency window less the margin
        self.builds: dict[str, ObservedBuild] = {}  # CodeBuild id -> the build as last seen
        self.by_hash: dict[str, list[str]] = {}  # input hash -> CodeBuild ids, oldest first
        self.by_token: dict[str, str] = {}  # idempotency token -> CodeBuild id
        self.pending: dict[str, rules.Pending] = {}  # token -> a recorded start CodeBuild's answer to which is unknown
        self.recorded: set[str] = set()  # ReflexBuild names written (or found)
        self.primed = False
        self.scanned: int | None = None  # builds of this installation the look over the project found (None: no look)
        self.unused_since: dict[str, datetime] = {}  # CodeBuild id -> since when no database uses it
        self.shown: dict[str, dict[str, object]] = {}  # ReflexBuild name -> the status written
        self.retired: set[str] = set()  # CodeBuild ids deleted (with their images)
        self.starts = 0  # StartBuild calls sent for shared builds by this process
        self._prime = asyncio.Lock()
        self._tokens: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------------------- the record

    def note(self, build: ObservedBuild) -> bool:
        """Keep a shared build (a private or foreign one is ignored); returns whether it is shared."""
        if not build.shared or build.codebuild_id in self.retired:
            return False
        known = build.codebuild_id in self.builds
        self.builds[build.codebuild_id] = build
        if not known:
            self.by_hash.setdefault(build.input_hash, []).append(build.codebuild_id)
        if build.idempotency_token:
            self.by_token[build.idempotency_token] = build.codebuild_id
            self.pending.pop(build.idempotency_token, None)
        return True

    def forget(self, codebuild_id: str) -> None:
        """A retired build: no database adopts it again."""
        build = self.builds.pop(codebuild_id, None)
        self.retired.add(codebuild_id)
        self.unused_since.pop(codebuild_id, None)
        if build is None:
            return
        ids = self.by_hash.get(build.input_hash, [])
        if codebuild_id in ids:
            ids.remove(codebuild_id)
        if build.idempotency_token and self.by_token.get(build.idempotency_token) == codebuild_id:
            del self.by_token[build.idempotency_token]

    def of(self, input_hash: str) -> tuple[ObservedBuild, ...]:
        """The shared builds of these inputs (what a database's pass may adopt)."""
        return tuple(self.builds[cid] for cid in self.by_hash.get(input_hash, ()) if cid in self.builds)

    def knows(self, token: str) -> bool:
        return token in self.by_token

    def unfinished(self) -> list[str]:
        return [cid for cid, b in self.builds.items() if not b.outcome.finished]

    def update(self, polled: Mapping[str, ObservedBuild]) -> None:
        """What a poll saw of the builds."""
        for cid, build in polled.items():
            if cid in self.builds:
                self.builds[cid] = build

    # --------------------------------------------------------------------------- the restart

    async def prime(self, codebuild: Builds, registry: BuildRegistry | None, now: datetime) -> None:
        """Once per process, before the first database is judged: the ReflexBuilds of this
        installation, their builds asked of CodeBuild (100 a call); with none, one look over the
        project for the builds of this installation."""
        if self.primed:
            return
        async with self._prime:
            if self.primed:
                return
            records = []
            if registry is not None:
                records = [r for r in (rules.pending_of(b, self.identity) for b in await registry.list_builds()) if r is not None]
            if records:
                ids = [cid for _, cid in records if cid]
                for build in (await codebuild.get(ids)).values():
                    self.note(build)
                for spec, cid in records:
                    name = rules.image_name(spec.image_uri)
                    self.recorded.add(name)
                    if cid is None and spec.idempotency_token not in self.by_token:
                        self.pending[spec.idempotency_token] = rules.Pending(name, spec.idempotency_token, spec.recorded_at)
                log.info("the fleet's builds: %d recorded, %d starts awaiting CodeBuild's answer", len(records), len(self.pending))
            else:
                found, complete = await codebuild.scan(self.identity, None)
                for build in found:
                    self.note(build)
                self.scanned = len(found)
                log.info(
                    "no ReflexBuild of installation %r: %d of its builds found in CodeBuild (%s)",
                    self.identity, len(found), "the whole project" if complete else "the look's limit reached",
                )
            self.primed = True

    async def reread(self, codebuild: Builds, registry: BuildRegistry) -> None:
        """The records again (the sweep's, on the replica that leads the installation): builds other
        replicas started are known here too, so their ReflexBuilds show their users and they retire."""
        records = [r for r in (rules.pending_of(b, self.identity) for b in await registry.list_builds()) if r is not None]
        for spec, _ in records:
            self.recorded.add(rules.image_name(spec.image_uri))
        unknown = [cid for _, cid in records if cid and cid not in self.builds and cid not in self.retired]
        if unknown:
            for build in (await codebuild.get(unknown)).values():
                self.note(build)

    # ------------------------------------------------------------------------------ the start

    async def start(self, codebuild: Builds, registry: BuildRegistry | None, step: StartBuild, now: datetime) -> ObservedBuild:
        """Start a shared build: one StartBuild per token in this process, recorded first; a token
        already known returns its build without a call. A private build (``owner``) is started as
        it is asked."""
        if step.owner is not None:
            return await codebuild.start(step)
        token = step.idempotency_token
        lock = self._tokens.setdefault(token, asyncio.Lock())
        async with lock:
            known = self._known(token)
            if known is None and registry is not None and token not in self.pending:
                known = await self._recorded_elsewhere(codebuild, registry, step)
            if known is not None:
                return known
            pending = self.pending.get(token)
            if pending is not None and rules.resolve(pending, now, self.fresh_seconds) == "find":
                found = await self._recover(codebuild, pending)
                if found is not None:
                    return found
                pending = None  # never started: recorded anew, then started
            if pending is None and registry is not None:
                name = rules.image_name(step.image_uri)
                await registry.record_build(name, rules.start_spec(step, now).wire())
                self.recorded.add(name)
                self.pending[token] = rules.Pending(name, token, now)
            build = await codebuild.start(step)
            self.starts += 1
            self.note(build)
            if registry is not None:  # the record names its build at once (any replica finds it there)
                await registry.put_build_status(rules.image_name(step.image_uri), {"codebuildId": build.codebuild_id})
            log.info("shared build %s started for inputs %s (attempt %d)", build.codebuild_id, step.inputs.hash, step.attempt)
            return build

    async def _recorded_elsewhere(self, codebuild: Builds, registry: BuildRegistry, step: StartBuild) -> ObservedBuild | None:
        """The ReflexBuild of this start, if another replica (or process) recorded it since this
        one's records were read: its build, or its start taken as pending (one GET per new token)."""
        body = await registry.get_build(rules.image_name(step.image_uri))
        record = rules.pending_of(body, self.identity) if body is not None else None
        if record is None:
            return None
        spec, cid = record
        if cid is not None:
            for build in (await codebuild.get([cid])).values():
                self.note(build)
            return self._known(step.idempotency_token)
        self.pending[spec.idempotency_token] = rules.Pending(rules.image_name(spec.image_uri), spec.idempotency_token, spec.recorded_at)
        return None

    async def _recover(self, codebuild: Builds, pending: rules.Pending) -> ObservedBuild | None:
        """A start recorded longer ago than the idempotency window: its build, looked for back to
        the record's time (StartBuild again could start a second one)."""
        build, complete = await codebuild.find(FindBuild(uid="", idempotency_token=pending.token, since=pending.recorded_at))
        if build is not None:
            self.note(build)
            log.info("the shared build of token %s, recorded before a restart: %s", pending.token, build.codebuild_id)
            return build
        if not complete:
            log.warning("the build of token %s could not be told (the look reached its limit): started anew", pending.token)
        self.pending.pop(pending.token, None)
        return None

    def _known(self, token: str) -> ObservedBuild | None:
        cid = self.by_token.get(token)
        return self.builds.get(cid) if cid else None
