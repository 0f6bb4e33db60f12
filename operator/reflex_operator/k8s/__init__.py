"""The Kubernetes side of the operator.

``handlers`` (the kopf handlers) → ``wiring`` (the adapters and tasks, put together once) →
``queue`` (the work queue, its backoff and resync) → ``workers`` (one pass per key, and how it
ended) → ``reconciler`` (one pass: observe, decide, act, write) beside ``poller`` (the batched
observations); ``gate`` says what this replica may act on (the workers and the poller ask it),
``elector`` holds Leases for it (leader election, shards) through ``leases`` (the Lease I/O);
``runtime`` holds the operator-wide state, ``kube`` the Kubernetes client, ``main`` the ``run``
command.
"""
