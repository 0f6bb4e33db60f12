"""``promtool``, built from its upstream Go module (``tests/promtool/go.mod``) as helm is
(:mod:`reflex_dev.gobuild`): ``ensure_promtool()`` returns
``~/.cache/reflex-controlplane/promtool-<version>/promtool``, building it first if the cache lacks
it; ``PROMTOOL`` set to an executable uses that one instead. It checks and unit-tests the alert rules
(``manifests/alerts``, ``tests/promtool``).
"""

from __future__ import annotations

from pathlib import Path

from reflex_dev.gobuild import ensure_go_binary, require

__all__ = ["MODULE_DIR", "ensure_promtool", "promtool_version", "prometheus_release"]

MODULE_DIR = Path("tests") / "promtool"
MODULE = "github.com/prometheus/prometheus"
PACKAGE = f"{MODULE}/cmd/promtool"


def promtool_version() -> str:
    """The Go module version, e.g. ``v0.316.0``."""
    return require(MODULE_DIR, MODULE)


def prometheus_release(module_version: str) -> str:
    """Prometheus 3's release of a module version: ``v0.316.0`` → ``3.16.0``."""
    minor, patch = module_version.lstrip("v").split(".")[1:3]
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


def ensure_promtool(log=None) -> Path:
    version = promtool_version()
    ldflags = f"-s -w -X github.com/prometheus/common/version.Version={prometheus_release(version)}"
    return ensure_go_binary("promtool", version, MODULE_DIR, PACKAGE, ldflags, "PROMTOOL", log=log)


if __name__ == "__main__":
    print(ensure_promtool())
