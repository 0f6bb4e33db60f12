"""High availability: leader election and shards on ``coordination.k8s.io/v1`` Leases.

``lease`` (client-go's rules: claim, renew, expiry, tenure) and ``shards`` (which shards to take
or give up) are pure; ``lease_client`` is the Lease I/O; ``elector`` runs the loop; ``gate`` says
what this replica may act on now, and stops a lost shard's passes.
"""
