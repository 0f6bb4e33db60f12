"""The fleet's shared builds, operator-wide: which builds this installation has made, by input
hash and by idempotency token, found again in CodeBuild when the operator starts, and one
StartBuild per token however many databases ask for it at once.

Why no build is started twice, whatever crashed or was wiped (the per-database intent of
``database.intent`` still holds too):

- a start's idempotency token is the installation's, the inputs' and the attempt's
  (``identity.shared_build_token``), the same for every database, replica and restart;
- within CodeBuild's idempotency window a repeated token returns the build it started;
- before a token this process has not seen is sent, the project's builds are looked at back to
  the last look (``refresh``: a look at most one window less the margin old): a build of that
  token started before then is found there, one started after is within the window.

When the operator starts (the Kubernetes control plane may be new, with no status at all), one
look back over the project (``ready``: ``ListBuildsForProject`` and ``BatchGetBuilds``, 100 a
call, at most ``REFLEX_BUILD_FIND_MAX_BUILDS`` builds) finds every build of this installation
(``REFLEX_CLUSTER_IDENTITY`` on the build), and the databases adopt them. The ReflexBuild
resources written by ``sweep`` (``controller.poller``) are a view of this, never read back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from reflex_operator.database.inputs import ObservedBuild
from reflex_operator.database.steps import StartBuild
from reflex_operator.ports import Builds

__all__ = ["FleetBuilds"]

log = logging.getLogger("reflex_operator.fleet")


class FleetBuilds:
    """The shared builds this installation knows, kept current by starts, looks and polls."""

    def __init__(self, cluster_identity: str = "default", fresh_seconds: float = 240.0) -> None:
        self.identity = cluster_identity
        self.fresh = timedelta(seconds=fresh_seconds)  # a look younger than this needs no refresh before a start
        self.builds: dict[str, ObservedBuild] = {}  # CodeBuild id -> the build as last seen
        self.by_hash: dict[str, list[str]] = {}  # input hash -> CodeBuild ids, oldest first
        self.by_token: dict[str, str] = {}  # idempotency token -> CodeBuild id
        self.looked_at: datetime | None = None  # the project was looked at back to here (None: not yet)
        self.complete = False  # the first look reached the project's first build
        self.unused_since: dict[str, datetime] = {}  # CodeBuild id -> since when no database uses it
        self.shown: dict[str, dict[str, object]] = {}  # ReflexBuild name -> the status written
        self.retired: set[str] = set()  # CodeBuild ids deleted (with their images)
        self.starts = 0  # StartBuild calls sent for shared builds
        self._look = asyncio.Lock()
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

    def update(self, polled: Mapping[str, ObservedBuild]) -> set[str]:
        """What a poll saw; returns the input hashes whose builds changed."""
        changed = set()
        for cid, build in polled.items():
            if cid in self.builds and self.builds[cid] != build:
                self.builds[cid] = build
                changed.add(build.input_hash)
        return changed

    # ------------------------------------------------------------------------------ the looks

    async def ready(self, codebuild: Builds, now: datetime) -> None:
        """The first look over the project, once per process (the others wait for it)."""
        if self.looked_at is not None:
            return
        async with self._look:
            if self.looked_at is None:
                found, complete = await codebuild.scan(self.identity, None)
                for build in found:
                    self.note(build)
                self.looked_at, self.complete = now, complete
                log.info("the fleet's builds: %d found in CodeBuild (%s)", len(found), "complete" if complete else "limit reached")

    async def refresh(self, codebuild: Builds, now: datetime) -> None:
        """Look at the builds started since the last look, unless it is fresh (younger than the
        idempotency window less its margin): a start sent after this finds any build of its token."""
        await self.ready(codebuild, now)
        async with self._look:
            assert self.looked_at is not None
            if now - self.looked_at < self.fresh:
                return
            since = self.looked_at
            found, _ = await codebuild.scan(self.identity, since)
            for build in found:
                self.note(build)
            self.looked_at = now

    # ------------------------------------------------------------------------------ the start

    async def start(self, codebuild: Builds, step: StartBuild, now: datetime) -> ObservedBuild:
        """Start a shared build: one StartBuild per token in this process, after a fresh look;
        a token already known returns its build without a call. A private build (``owner``) is
        started as it is asked."""
        if step.owner is not None:
            return await codebuild.start(step)
        token = step.idempotency_token
        lock = self._tokens.setdefault(token, asyncio.Lock())
        async with lock:
            known = self._known(token)
            if known is None:
                await self.refresh(codebuild, now)
                known = self._known(token)
            if known is not None:
                return known
            build = await codebuild.start(step)
            self.starts += 1
            self.note(build)
            log.info("shared build %s started for inputs %s (attempt %d)", build.codebuild_id, step.inputs.hash, step.attempt)
            return build

    def _known(self, token: str) -> ObservedBuild | None:
        cid = self.by_token.get(token)
        return self.builds.get(cid) if cid else None
