"""reflex-api: the hosted service's REST API (seeds 000_, 001_, 004_) served from the ReflexDatabase
resources. ``models`` are the response shapes, ``shapes`` maps a resource to them (pure),
``actions`` resolves an API action into the verb's patch of ``reflex_operator.actions`` (pure),
``cache`` keeps a watch-backed copy of the resources, ``backend`` asks the API server who the
caller is and what they may do and writes as them, ``app`` is the FastAPI application, ``serve``
the ``reflex-api`` entry point."""
