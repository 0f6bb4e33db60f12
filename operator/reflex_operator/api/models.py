"""The ReflexDatabase API (``reflexdb.cloud/v1alpha1``): spec and status as pydantic models.

These models are the one source of truth: the operator parses and writes them, and the CRD's
OpenAPI schema is generated from them (``reflex_operator.crdgen.database``). Field names are camelCase on
the wire; Python attributes are snake_case.

The models live by concern: ``api.common`` (the API's names, string formats, wire conventions),
``api.spec`` and ``api.status``. This module gathers them under one name, as callers import them.
"""

from __future__ import annotations

from reflex_operator.api import common, spec, status
from reflex_operator.api.common import *  # noqa: F403
from reflex_operator.api.spec import *  # noqa: F403
from reflex_operator.api.status import *  # noqa: F403

__all__ = [*common.__all__, *spec.__all__, *status.__all__]
