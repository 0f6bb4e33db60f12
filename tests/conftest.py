"""Shared pytest configuration. Fixtures live in tests/fixtures/, one module per component."""

pytest_plugins = [
    "tests.fixtures.controlplane",  # kube-apiserver + etcd: `controlplane`, `kube`, `namespace`
    "tests.fixtures.aws",  # AWS emulator + reflex-server simulator: `emulator`, `aws`, `simulator`
    "tests.fixtures.operator",  # the operator as a subprocess: `operator`
    "tests.fixtures.kstatus",  # the kstatus checker built from tests/kstatus: `kstatus_binary`
]
