"""``kubectl reflex``: a kubectl plugin (the console script ``kubectl-reflex``) that shows a
ReflexDatabase and carries out its actions as the spec changes the README's cookbook documents.

What a verb does is decided in ``reflex_operator.actions.verbs``; here ``render`` formats (pure),
``cluster`` is the Kubernetes I/O and ``cli`` the command line.
"""
