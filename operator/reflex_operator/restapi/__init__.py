"""reflex-api: the hosted service's REST API (seeds 000_, 001_, 004_) served from the ReflexDatabase
resources. ``models`` are the response shapes, ``shapes`` maps a resource to them (pure),
``actions`` turns an API action into the plugin's patch (pure), ``cache`` keeps a watch-backed copy
of the resources, ``auth`` asks the API server who the caller is and what they may do, ``app`` is
the FastAPI application, ``main`` the ``reflex-api`` entry point."""
