"""Every response model against the seeds: each field the seed marks required is present (in the
model's schema as required, and in a response built from a real status) with the seed's type and
allowed values."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reflex_operator.restapi import shapes
from reflex_operator.restapi.models import BuildsResponse, ErrorBody, InstanceResponse
from tests.unit.restapi import seed_contract as seed

FIXTURE = Path(__file__).parent.parent / "fixtures" / "plugin_status.json"


def body() -> dict[str, Any]:
    obj = json.loads(FIXTURE.read_text())
    obj["metadata"].update(uid="6f1c2a52-8a36-4c47-9b53-0e1f4f6b8a01", creationTimestamp="2026-01-01T09:00:00Z")
    obj["status"]["plan"] = {"name": "team", "computeUnitsLimit": 8, "maxInstanceSize": "large",
                             "pollModeMinSyncInterval": 30, "dataTransferGBPerMonth": 100}
    obj["status"]["notifications"] = [{"id": "2d1f5b1e-7c57-5e2e-9a0f-3b1a2c4d5e6f", "eventType": "Deployed",
                                       "message": "build b2 deployed", "severity": "success", "sticky": False,
                                       "createdAt": "2026-01-01T11:55:00Z"}]
    return obj


def _at(doc: Any, path: str) -> list[Any]:
    """The values at ``path`` ("a.b", "a[]" for each item of the array a)."""
    nodes = [doc]
    for part in filter(None, path.split(".")):
        many = part.endswith("[]")
        name = part[:-2] if many else part
        nodes = [n[name] for n in nodes]
        if many:
            nodes = [item for n in nodes for item in n]
    return nodes


def _has_type(value: Any, kind: str) -> bool:
    match kind:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "date-time":
            return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
    raise AssertionError(kind)


def _cases(contract: dict[str, dict[str, tuple[str, set[str] | None]]]) -> list[tuple[str, str, str, Any]]:
    return [(path, name, kind, allowed) for path, fields in contract.items() for name, (kind, allowed) in fields.items()]


def _head(path: str) -> str:
    return path.split("[]")[-1].rsplit(".", 1)[-1]


@pytest.mark.parametrize(("path", "name", "kind", "allowed"), _cases(seed.INSTANCE))
def test_instance_response_has_every_required_seed_field(path: str, name: str, kind: str, allowed: set[str] | None) -> None:
    doc = shapes.instance_response(body()).model_dump(mode="json", by_alias=True)
    values = _at(doc, path)
    assert values, f"nothing at {path!r} to check"
    for node in values:
        assert name in node, f"{path}.{name} missing"
        assert _has_type(node[name], kind), f"{path}.{name}={node[name]!r} is not {kind}"
        if allowed is not None:
            assert node[name] in allowed


@pytest.mark.parametrize(("path", "name", "kind", "allowed"), _cases(seed.BUILDS))
def test_builds_response_has_every_required_seed_field(path: str, name: str, kind: str, allowed: set[str] | None) -> None:
    doc = shapes.builds_response(body()).model_dump(mode="json", by_alias=True)
    for node in _at(doc, path):
        assert name in node and _has_type(node[name], kind), f"{path}.{name}"


def _schema_node(schema: dict[str, Any], path: str) -> dict[str, Any]:
    defs = schema.get("$defs", {})

    def deref(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return deref(defs[node["$ref"].rsplit("/", 1)[-1]])
        options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
        return deref(options[0]) if options else node

    node = schema
    for part in filter(None, path.split(".")):
        name = part.removesuffix("[]")
        node = deref(node["properties"][name])
        if part.endswith("[]"):
            node = deref(node["items"])
    return node


@pytest.mark.parametrize(
    ("model", "contract"), [(InstanceResponse, seed.INSTANCE), (BuildsResponse, seed.BUILDS), (ErrorBody, seed.ERROR)]
)
def test_the_served_schema_marks_the_seed_required_fields_required(model: Any, contract: dict[str, Any]) -> None:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    for path, fields in contract.items():
        node = _schema_node(schema, path)
        missing = set(fields) - set(node.get("required", []))
        assert not missing, f"{model.__name__} {path or '.'}: not required: {missing}"


@pytest.mark.parametrize(("path", "name", "allowed"), [(p, n, a) for p, f in seed.INSTANCE_ENUMS.items() for n, a in f.items()])
def test_enum_fields_take_only_the_seed_values(path: str, name: str, allowed: set[str]) -> None:
    schema = InstanceResponse.model_json_schema(by_alias=True, mode="serialization")
    node = _schema_node(schema, path)["properties"][name]
    enum = next(o for o in node.get("anyOf", [node]) if "$ref" in o or "enum" in o)
    if "$ref" in enum:
        enum = schema["$defs"][enum["$ref"].rsplit("/", 1)[-1]]
    assert set(enum["enum"]) == allowed


def test_a_database_before_its_first_pass_still_answers_in_shape() -> None:
    obj = body()
    obj["status"] = {}
    doc = shapes.instance_response(obj).model_dump(mode="json", by_alias=True)
    assert doc["latestBuild"] is None and doc["allowedActions"]["pause"]["allowed"] is False
    assert set(seed.INSTANCE[""]) <= set(doc)

