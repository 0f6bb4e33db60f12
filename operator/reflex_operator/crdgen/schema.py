"""What both CRDs are made of: the structural OpenAPI schema of a pydantic model, the YAML they are
written in, and the tables of ``docs/api.md`` (fields and printer columns).

``structural_schema()`` turns a model's JSON schema into a *structural* OpenAPI v3 schema, as the
API server requires:

- every ``$ref`` is inlined (no ``$defs``);
- ``X | None`` (``anyOf: [X, {type: null}]``) becomes ``X`` with ``nullable: true``;
- no ``title``; ``additionalProperties`` only for maps (unknown fields are pruned or, under
  strict field validation, rejected);
- spec defaults are kept, so the API server applies them; a defaulted object gets ``default: {}``
  and its fields' own defaults fill it in. Status carries no defaults (the operator writes it);
- constraints (``enum``, ``minimum``/``maximum``, ``minLength``/``maxLength``,
  ``minItems``/``maxItems``, list types) and CEL rules (``x-kubernetes-validations``) are kept.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from reflex_operator.api.common import GROUP, VERSION

__all__ = ["crd_document", "structural_schema", "dump_yaml", "field_rows", "column_rows", "FIELD_HEADER", "COLUMN_HEADER"]

# Keys of the JSON schema that the structural schema keeps as they are.
_KEPT = {
    "type",
    "description",
    "format",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
    "nullable",
    "default",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
}
# Keys pydantic emits that have no place in a structural schema.
_DROPPED = {"title", "$defs", "examples"}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a ``$ref`` (siblings such as ``description`` and ``default`` win over the target)."""
    while "$ref" in node:
        ref = node["$ref"]
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise ValueError(f"unsupported $ref {ref!r}")
        target = defs[ref[len(prefix) :]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **siblings}
    return node


def _merge_nullable(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` -> ``X`` + ``nullable: true``; other unions are not supported."""
    variants = node["anyOf"]
    non_null = [v for v in variants if v != {"type": "null"}]
    if len(non_null) != 1 or len(variants) != 2:
        raise ValueError(f"only `X | None` unions can be expressed structurally, got {variants!r}")
    siblings = {k: v for k, v in node.items() if k != "anyOf"}
    inner = _resolve(non_null[0], defs)
    if "enum" in inner:
        # The API server checks `enum` even against null, and no enum entry can match null. Left
        # non-nullable, a null is pruned (as if the field were absent), which is what None means.
        return {**inner, **siblings}
    return {**inner, **siblings, "nullable": True}


def _convert(node: dict[str, Any], defs: dict[str, Any], *, defaults: bool, path: str) -> dict[str, Any]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        node = _merge_nullable(node, defs)
    for key in ("oneOf", "allOf", "not", "const", "prefixItems"):
        if key in node:
            raise ValueError(f"{path}: {key!r} cannot be expressed in a structural schema")
    unknown = set(node) - _KEPT - _DROPPED - {"properties", "items", "additionalProperties"}
    if unknown:
        raise ValueError(f"{path}: unexpected JSON schema keys {sorted(unknown)}")

    out: dict[str, Any] = {}
    if "description" in node:
        out["description"] = node["description"]
    out["type"] = node["type"]
    for key in sorted(_KEPT - {"type", "description", "default", "required"}):
        if key in node:
            out[key] = copy.deepcopy(node[key])
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if not isinstance(out.get(bound, True), bool):
            # JSON Schema's `exclusiveMinimum: x` is OpenAPI v3.0's `minimum: x, exclusiveMinimum: true`.
            out[flag], out[bound] = out[bound], True

    if "properties" in node:
        out["properties"] = {
            name: _convert(sub, defs, defaults=defaults, path=f"{path}.{name}")
            for name, sub in node["properties"].items()
        }
        if node.get("required"):
            out["required"] = list(node["required"])
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(
            node["additionalProperties"], defs, defaults=defaults, path=f"{path}[*]"
        )
    if "items" in node:
        out["items"] = _convert(node["items"], defs, defaults=defaults, path=f"{path}[*]")

    if defaults and node.get("default") is not None:
        default = node["default"]
        if out["type"] == "object" and "properties" in out:
            # The fields' own defaults fill the object in; `{}` keeps one source for them.
            if not all("default" in sub for sub in out["properties"].values()):
                raise ValueError(f"{path}: a defaulted object needs defaults on all its fields")
            default = {}
        out["default"] = copy.deepcopy(default)
    return out


def structural_schema(model: type, *, defaults: bool) -> dict[str, Any]:
    """The structural OpenAPI schema of a pydantic model (see the module docstring)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(schema, schema.get("$defs", {}), defaults=defaults, path=model.__name__)


def crd_document(
    *,
    kind: str,
    plural: str,
    singular: str,
    scope: str,
    description: str,
    spec: type,
    status: type,
    columns: list[dict[str, Any]],
    short_names: list[str],
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """A CRD (apiextensions.k8s.io/v1) of one served, stored version with a status subresource,
    its schema made from the ``spec`` and ``status`` models (spec defaults kept, status without)."""
    root = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(spec, defaults=True),
            "status": structural_schema(status, defaults=False),
        },
    }
    names = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular, "shortNames": short_names}
    if categories:
        names["categories"] = categories
    version = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": copy.deepcopy(columns),
        "schema": {"openAPIV3Schema": root},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "reflex-operator", "app.kubernetes.io/component": "crd"},
        },
        "spec": {"group": GROUP, "scope": scope, "names": names, "versions": [version]},
    }


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(document: dict[str, Any]) -> str:
    """A CRD as YAML: block style, literal blocks for multi-line strings, keys in model order."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


# ------------------------------------------------------------------------------ the API reference

FIELD_HEADER = ["| field | type | default | validation | description |", "|---|---|---|---|---|"]
COLUMN_HEADER = ["| column | JSONPath | shown | description |", "|---|---|---|---|"]


def _type_of(node: dict[str, Any]) -> str:
    kind = node["type"]
    if "enum" in node:
        text = " \\| ".join(f"`{value}`" for value in node["enum"])
    elif kind == "array":
        text = f"list of {_type_of(node['items'])}"
    elif kind == "object" and "additionalProperties" in node:
        text = f"map of {_type_of(node['additionalProperties'])}"
    else:
        text = kind + (f" ({node['format']})" if "format" in node else "")
    return text


def _constraints(node: dict[str, Any], required: bool) -> str:
    parts = ["**required**"] if required else []
    for key, label in (
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("minLength", "length ≥ {}"),
        ("maxLength", "length ≤ {}"),
        ("minItems", "≥ {} items"),
        ("maxItems", "≤ {} items"),
    ):
        if key in node:
            exclusive = node.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum") is True
            parts.append((label.replace("≥", ">").replace("≤", "<") if exclusive and key in ("minimum", "maximum") else label).format(node[key]))
    if node.get("x-kubernetes-list-type") == "set":
        parts.append("no duplicates")
    if node.get("x-kubernetes-list-type") == "map":
        parts.append("one entry per " + ", ".join(f"`{k}`" for k in node["x-kubernetes-list-map-keys"]))
    items = node.get("items", {})
    for rule in [*node.get("x-kubernetes-validations", []), *items.get("x-kubernetes-validations", [])]:
        parts.append(("each item " if rule in items.get("x-kubernetes-validations", []) else "") + rule["message"])
    for key, label in (("minLength", "each item length ≥ {}"), ("maxLength", "each item length ≤ {}")):
        if key in items:
            parts.append(label.format(items[key]))
    return "; ".join(parts)


def _rows(node: dict[str, Any], path: str, required: bool, out: list[str]) -> None:
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    cells = [f"`{path}`", _type_of(node), default, _constraints(node, required), node.get("description", "")]
    out.append("| " + " | ".join(cell.replace("\n", " ").replace("|", "\\|") if i == 4 else cell for i, cell in enumerate(cells)) + " |")
    target = node
    suffix = ""
    if node["type"] == "array" and node["items"]["type"] == "object":
        target, suffix = node["items"], "[]"
    for name, sub in target.get("properties", {}).items():
        _rows(sub, f"{path}{suffix}.{name}", name in target.get("required", []), out)


def field_rows(section: dict[str, Any], prefix: str) -> list[str]:
    """The rows of the fields table of one section (``spec`` or ``status``) of a CRD schema."""
    rows: list[str] = []
    for name, sub in section["properties"].items():
        _rows(sub, f"{prefix}.{name}", name in section.get("required", []), rows)
    return rows


def column_rows(columns: list[dict[str, Any]]) -> list[str]:
    """The rows of the printer-columns table of a CRD version."""
    return [
        f"| {c['name'].upper()} | `{c['jsonPath']}` | {'`-o wide`' if c.get('priority', 0) else 'always'} | "
        f"{c.get('description', 'Time since creation.')} |"
        for c in columns
    ]
