"""The CRDs and ``docs/api.md``, generated from the pydantic models of ``api`` (the one source of
truth): ``schema`` (structural schema, YAML, doc tables), ``database`` (ReflexDatabase),
``plan`` (ReflexPlan), ``columns`` (ReflexDatabase's printer columns), ``write`` (writes them all)."""
