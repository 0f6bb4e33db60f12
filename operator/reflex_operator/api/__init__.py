"""The API: what users write and read, and what the operator promises reflex-server.

``common`` (group, kind, shared field types), ``spec`` (the desired state, sizes), ``status``
(the observed state, the action matrix), ``plan`` (ReflexPlan), ``models`` (all of them at once),
``reasons`` (every condition and event reason, and the reader of "is this condition True"),
``server_contract`` (reflex-server's environment and its ``/healthz`` document). Pure.
"""
