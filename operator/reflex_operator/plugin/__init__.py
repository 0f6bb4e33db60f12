"""``kubectl reflex``: a kubectl plugin (the console script ``kubectl-reflex``) that shows a
ReflexDatabase and carries out its actions as the spec changes the README's cookbook documents.

``verbs`` decides (which patch a verb makes, whether ``status.allowedActions`` allows it, what
result to wait for) and ``render`` formats; both are pure. ``kube`` is the Kubernetes I/O and
``main`` the command line.
"""
