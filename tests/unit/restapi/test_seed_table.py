"""Every item of the five seeds (seed_items.ITEMS) has an entry in seed_items.TABLE: where the API
answers it, checked here against the served OpenAPI document (or the code that produces the
value), or why it is out of scope. An item without an entry, an answer the API does not give, or an
out-of-scope entry without a reason fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reflex_operator.api.models import Phase
from reflex_operator.restapi import shapes
from reflex_operator.restapi.actions import BatchResult
from reflex_operator.restapi.app import create_app
from reflex_operator.restapi.models import TargetStatus
from tests.unit.restapi.seed_items import ITEMS, PART_B, TABLE, Body, Enum, Field, Out, Param, Produced, Route
from tests.unit.restapi.test_app import FakeBackend

DOC = create_app(FakeBackend()).openapi()
SEEDS = Path(os.environ.get("REFLEX_SEEDS_DIR", Path(__file__).resolve().parents[4] / "shared" / "seeds"))


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _deref(DOC["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]])
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    return _deref(options[0]) if len(options) == 1 else node


def _operation(method: str, path: str) -> dict[str, Any]:
    assert path in DOC["paths"], f"no route {path}"
    assert method in DOC["paths"][path], f"no {method.upper()} {path}"
    return DOC["paths"][path][method]


def _walk(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = _deref(schema)
    for part in dotted.split("."):
        name, many = part.removesuffix("[]"), part.endswith("[]")
        if name == "*":
            node = _deref(node["additionalProperties"])
        else:
            assert name in node.get("properties", {}), f"no field {name!r} (of {dotted}) in {sorted(node.get('properties', {}))}"
            node = _deref(node["properties"][name])
        if many:
            node = _deref(node["items"])
    return node


def _response(method: str, path: str, code: str) -> dict[str, Any]:
    responses = _operation(method, path)["responses"]
    assert code in responses, f"{method.upper()} {path} documents no {code}"
    return responses[code]["content"]["application/json"]["schema"]


def _produced(producer: str) -> set[str]:
    """The values the code gives where the schema has no enum."""
    match producer:
        case "phase":
            return {p.value for p in Phase}
        case "list_status":
            return {p.lower() for p in shapes.SEED_STATUS}
        case "seed_status":
            return set(shapes.SEED_STATUS.values())
        case "batch":
            return {shapes.batch_entry(BatchResult("Running", changed=changed), t).status
                    for t in TargetStatus for changed in (True, False)}
    raise AssertionError(producer)


def check(answer: object) -> None:
    match answer:
        case Route(method, path, code):
            op = _operation(method, path)
            assert code is None or code in op["responses"], f"{method.upper()} {path} documents no {code}"
        case Param(method, path, name):
            names = {p["name"] for p in _operation(method, path).get("parameters", [])}
            assert name in names, f"{method.upper()} {path} has no parameter {name!r}: {sorted(names)}"
        case Body(method, path, name, values):
            schema = _operation(method, path)["requestBody"]["content"]["application/json"]["schema"]
            node = _walk(schema, name)
            assert set(values) <= set(node.get("enum", values)), f"{name}: {values} not all in {node.get('enum')}"
        case Field(method, path, name, code):
            _walk(_response(method, path, code), name)
        case Enum(method, path, name, value):
            assert value in _walk(_response(method, path, "200"), name).get("enum", []), f"{name} does not allow {value!r}"
        case Produced(producer, value):
            assert value in _produced(producer), f"{value!r} is not something the API gives ({producer})"
        case Out(reason):
            assert reason.strip(), "out of scope needs a reason"
        case _:
            raise AssertionError(f"not an answer: {answer!r}")


def test_every_seed_item_has_an_entry_and_no_entry_is_for_nothing() -> None:
    missing = [i for i in ITEMS if i not in TABLE]
    extra = [k for k in TABLE if k not in set(ITEMS)]
    assert not missing, f"seed items with no answer and no reason: {missing}"
    assert not extra, f"entries for no seed item: {extra}"
    assert len(ITEMS) == len(set(ITEMS))


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: " ".join(i))
def test_the_api_answers_the_seed_item_where_the_table_says(item: tuple[str, str, str]) -> None:
    check(TABLE[item])


def test_nothing_is_left_to_part_b() -> None:
    part_b = sorted(name for (seed, _, name), answer in TABLE.items() if isinstance(answer, Out) and answer.reason == PART_B)
    assert part_b == []


def _words(name: str) -> list[str]:
    """The seed's own words in an item's name (the parts a reader finds in the seed text)."""
    name = name.split(" ", 1)[-1] if name.split(" ", 1)[0] in ("GET", "POST", "PATCH", "DELETE", "history", "pricing", "status") else name
    name = name.split(" ")[-1]
    return [w for w in name.replace("[]", "").replace("=", ".").split(".") if w and w not in ("*", "Error") and not w.startswith(":")]


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"the seeds are not at {SEEDS} (REFLEX_SEEDS_DIR)")
@pytest.mark.parametrize("item", [i for i in ITEMS if i[1] != "value" or "=" in i[2]], ids=lambda i: " ".join(i))
def test_the_transcription_names_what_the_seed_names(item: tuple[str, str, str]) -> None:
    seed, kind, name = item
    text = next(SEEDS.glob(f"{seed}_*.txt")).read_text()
    if kind == "endpoint":
        return  # paths are written in several ways in the seeds (with the host, ":id", "{id}")
    for word in _words(name):
        assert word in text, f"{word!r} ({name}) is not in seed {seed}"


def test_the_openapi_document_carries_the_seeds_names() -> None:
    assert {"/v2/instances", "/v2/instances/status/history", "/v2/instances/{instance_fid}/status"} <= set(DOC["paths"])
    batch = _operation("patch", "/v2/instances")["requestBody"]["content"]["application/json"]["schema"]
    assert {"instances", "status"} <= set(_deref(batch)["properties"])
    assert {"next_cursor", "sort_by", "sort_dir", "limit"} <= {p["name"] for p in _operation("get", "/v2/instances")["parameters"]}
    _walk(_response("get", "/v1/databases", "200"), "next_cursor")  # raises when the list answers another name
