"""reflex-server's health and admin endpoints over HTTP (``client.HttpDataPlane``, behind ``ports.DataPlane``)."""
