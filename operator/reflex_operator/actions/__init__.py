"""The actions a user takes on a database, shared by ``kubectl reflex`` and ``reflex-api``.

The actions themselves are ``api.status.Action`` (the one list). ``allowed`` decides which are
allowed now, and whether they run at once or wait (written into ``status.allowedActions``);
``verbs`` is the verbs' table and the merge patch each makes, the refusal, what ``--wait`` waits
for. Pure.
"""
