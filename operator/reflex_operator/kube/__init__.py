"""The Kubernetes adapter: ``config`` (where the API server is: one precedence for every
component) and ``client`` (the operator's reads and writes of ReflexDatabases, Secrets,
ReflexPlans, Namespaces and Events, behind ``ports.Kubernetes``)."""
