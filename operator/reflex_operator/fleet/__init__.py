"""Fleet-wide decisions (pure): health-gated rollout waves of a fleet change (``rollout``) and the
operator-wide cache of the ReflexRollouts a database's pass reads its admission from (``cache``)."""
