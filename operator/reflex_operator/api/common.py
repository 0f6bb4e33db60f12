"""What the ReflexDatabase API's models share: the API's names (group, version, kind), the string
formats checked alike by pydantic and by the API server (``CelFormat``), and the wire conventions
(camelCase, unknown fields) of spec and status objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "GROUP",
    "VERSION",
    "KIND",
    "PLURAL",
    "SINGULAR",
    "SHORT_NAMES",
    "CATEGORIES",
    "DNS1123_SUBDOMAIN",
    "SECRET_KEY",
    "SCHEMA_NAME",
    "SERVER_VERSION",
    "TOKEN",
    "CelFormat",
    "SecretName",
    "SecretKey",
    "SchemaName",
    "ServerVersion",
    "Token",
    "Wire",
    "Observed",
    "Key",
]

GROUP = "reflexdb.cloud"
VERSION = "v1alpha1"
KIND = "ReflexDatabase"
PLURAL = "reflexdatabases"
SINGULAR = "reflexdatabase"
SHORT_NAMES = ("rdb", "reflexdb")
CATEGORIES = ("reflex",)

Key = tuple[str, str]  # a ReflexDatabase by (namespace, name): the work queue's and the caches' key

# Secret names are DNS-1123 subdomains; Secret keys follow the Secret API; schema names are
# unquoted PostgreSQL identifiers. Tokens and server versions are short printable identifiers.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_$]*$"
SERVER_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
TOKEN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


def _cel_string(text: str) -> str:
    """``text`` as a CEL string literal (JSON escapes are valid CEL escapes)."""
    return json.dumps(text)


@dataclass(frozen=True)
class CelFormat:
    """A string format, checked alike by pydantic and by the API server.

    pydantic matches ``pattern`` (anchored, RE2-compatible) and fails with ``message``; the JSON
    schema gets a CEL rule (``x-kubernetes-validations``) doing the same. A CEL rule rather than an
    OpenAPI ``pattern`` because the API server's message then says what the format is (next to the
    field path and the rejected value) instead of printing the regular expression.
    """

    pattern: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        regex = re.compile(self.pattern)
        message = self.message

        def check(value: str) -> str:
            if regex.fullmatch(value) is None:
                raise PydanticCustomError("string_format", "{message}", {"message": message})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("x-kubernetes-validations", []).append(self.rule())
        return json_schema

    def rule(self) -> dict[str, str]:
        """The CEL validation rule for the CRD schema."""
        return {"rule": f"self.matches({_cel_string(self.pattern)})", "message": self.message}


SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    CelFormat(
        DNS1123_SUBDOMAIN,
        "must be a Secret name (a DNS-1123 subdomain): lowercase letters, digits, '-' and '.', "
        "starting and ending with a letter or digit",
    ),
]
SecretKey = Annotated[
    str,
    Field(min_length=1, max_length=253),
    CelFormat(SECRET_KEY, "must be a Secret key: letters, digits, '-', '_' and '.'"),
]
SchemaName = Annotated[
    str,
    Field(min_length=1, max_length=63),
    CelFormat(
        SCHEMA_NAME,
        "must be a schema name (an unquoted PostgreSQL identifier): a letter or '_', then letters, "
        "digits, '_' or '$'",
    ),
]
ServerVersion = Annotated[
    str,
    Field(min_length=1, max_length=128),
    CelFormat(
        SERVER_VERSION,
        "must be a source revision: a letter or digit, then letters, digits, '.', '_', '/' or '-'",
    ),
]
Token = Annotated[
    str,
    Field(min_length=1, max_length=128),
    CelFormat(TOKEN, "must be a token: a letter or digit, then letters, digits, '.', '_', ':' or '-'"),
]


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
        use_attribute_docstrings=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it (camelCase, enums as strings, nulls kept)."""
        return self.model_dump(mode="json", by_alias=True)


class Observed(Wire):
    """Status objects tolerate fields written by newer operators."""

    model_config = ConfigDict(extra="ignore")
