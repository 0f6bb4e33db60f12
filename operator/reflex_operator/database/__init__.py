"""One database's decisions, pure: from what is desired and what is observed, the status to write
and the next steps. Nothing here does I/O; the time is passed in.

``inputs`` (what a decision takes: ``Desired``, ``Observation``, ``Config``) → ``decide`` (the
pipeline, one concern a module: ``rollout`` (a new default server version held for its wave) →
``secret`` → ``build`` (with ``intent``, crash-safe starts) →
``service`` → ``admin`` (reload, replication) → ``health`` → ``phase`` → ``conditions`` →
``status``; ``deleting`` when it goes) → ``steps`` (what the adapters carry out) and
``outcome`` (what each concern contributes). ``events``, ``notify``, ``history`` and
``chronicle`` tell what changed; ``identity`` names everything made in AWS.
"""
