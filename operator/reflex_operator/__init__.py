"""reflex-operator: runs ReflexDB databases on AWS from Kubernetes. A reading map, by concern
(each package's docstring maps its own modules; the layers, low to high, are enforced by
import-linter in pyproject.toml):

- ``api`` — the CRD models (spec, status, ReflexPlan, ReflexRollout), every condition and event reason
  (``api.reasons``), and the contract with reflex-server (``api.server_contract``).
- ``actions`` — the actions a user takes: which are allowed now (``allowed``) and the merge patch
  each verb makes (``verbs``); ``kubectl reflex`` and ``reflex-api`` both derive from these.
- ``tenancy`` — plans (quotas per namespace) and placement on ECS clusters: the rules (pure) and
  the operator-wide caches the watches fill.
- ``fleet`` — fleet rollouts of a new default server version, pure: the wave planner and the
  ReflexRollouts' cache (one database's side is ``database.rollout``).
- ``database`` — one database's decisions, pure: ``decide.decide`` runs the pipeline rollout → secret →
  build → service → server → phase → status and returns the status and the next steps.
- ``ports`` — the Protocols the adapters implement (the unit tests' world implements them too).
- ``kube``, ``aws``, ``dataplane`` — the adapters: Kubernetes (client, kubeconfig), CodeBuild /
  ECS / Secrets Manager, reflex-server's health and admin endpoints.
- ``ha`` — leader election and shards: the Lease rules (pure), the Lease client, the elector, and
  the gate that says what this replica may act on.
- ``crdgen`` — the CRDs and ``docs/api.md``, generated from ``api``.
- ``settings``, ``metrics`` — configuration from ``REFLEX_*``; the Prometheus metrics.
- ``controller`` — the runtime: kopf's watches (``handlers``), who wakes whom (``triggers``), the
  work queue and workers, one pass (``reconcile``), the batched observations (``poller``), and
  ``wiring``, where settings and adapters become one ``Runtime``.
- ``cli``, ``plugin``, ``restapi`` — the three entry points: ``reflex-operator``,
  ``kubectl-reflex`` and ``reflex-api``.
"""
