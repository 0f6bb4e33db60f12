"""The controller runtime.

``handlers`` (kopf's watches and probes) → ``triggers`` (who wakes whom: every rule that queues a
database, in one table) → ``queue`` (dedup, priorities, per-key backoff) → ``workers`` (one pass
per key, and how it ended) → ``reconcile`` (one pass: observe, decide, act, write) beside
``poller`` (the batched observations of builds, services and health). ``runtime`` holds the
operator-wide state; ``wiring`` turns settings and adapters into a ``Runtime`` (``assemble``) and
starts and stops its tasks; ``run`` is the ``reflex-operator run`` command.
"""
