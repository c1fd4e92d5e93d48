"""A small JSON-schema subset validator for what an LLM returns.

Model output is untrusted data: it is parsed as JSON, checked against a schema, and only
then read. The subset covers what triage needs (type, properties, required, items, enum,
pattern, min/max length and items) without a jsonschema dependency.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


class InvalidOutput(ValueError):
    """The model's reply is not the JSON Cockpit asked for (said in one sentence)."""


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, as short messages with a JSON path; [] when valid."""
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        allowed = _TYPES[kind]
        ok = isinstance(value, allowed) and not (kind in ("integer", "number")
                                                 and isinstance(value, bool))
        if not ok:
            return [f"{path} should be {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path} is not one of the allowed values")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path} is shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path} is longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path} has fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path} has more than {schema['maxItems']} items")
        item_schema = schema.get("items")
        if item_schema is not None:
            for i, item in enumerate(value):
                errors.extend(validate(item, item_schema, f"{path}[{i}]"))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path} lacks {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors.extend(validate(value[key], sub, f"{path}.{key}"))
    return errors


def parse_json_object(text: str) -> dict[str, Any]:
    """The one JSON object in a reply, tolerating a Markdown fence or prose around it."""
    body = text.strip()
    fence = re.search(r"```(?:json)?\s*(\{[\s\S]*\})\s*```", body)
    if fence:
        body = fence.group(1)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise InvalidOutput("the reply holds no JSON object") from None
        try:
            value = orjson.loads(body[start:end + 1])
        except orjson.JSONDecodeError as err:
            raise InvalidOutput(f"the reply is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise InvalidOutput("the reply is JSON but not an object")
    return value


def parse_and_validate(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    value = parse_json_object(text)
    errors = validate(value, schema)
    if errors:
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InvalidOutput("; ".join(errors[:3]) + more)
    return value
