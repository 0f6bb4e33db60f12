"""Tenancy: plans (ReflexPlan, a namespace's limits) and placement (which ECS cluster a database
runs on).

``plans`` and ``placement`` are the rules (pure: what a database may hold, where it goes);
``plan_cache`` and ``slots`` are the operator-wide state the watches and the passes keep current
(the plans and namespace labels seen, the services per cluster), read by a pass with no API call.
Writing each ReflexPlan's status is the poller's (``controller.poller.publish_plans``).
"""
