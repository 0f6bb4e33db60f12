"""reflex_dev: the local stack for development and tests, not part of the product.

A real kube-apiserver and etcd (``controlplane``), an AWS emulator built on moto (``emulator`` with
``emu_*``), a reflex-server simulator (``simulator``) and the ``reflex-dev`` command that starts and
stops them together (``stack``, ``cli``). It is installed with the dev extra only; the operator's
wheel and image do not contain it, and import-linter forbids ``reflex_operator`` from importing it.
"""

__all__: list[str] = []
