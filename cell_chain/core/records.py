"""Column snapshots and diffs of model instances, in a JSON form that hashes stably."""
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect


def json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _excluded(obj: Any) -> frozenset[str]:
    return getattr(type(obj), "__audit_exclude__", frozenset())


def entity_type(obj: Any) -> str:
    return type(obj).__tablename__


def entity_id(obj: Any) -> str:
    identity = inspect(type(obj)).primary_key_from_instance(obj)
    if any(part is None for part in identity):
        raise RuntimeError(f"{type(obj).__name__} has no identity yet: flush before auditing")
    return ":".join(str(part) for part in identity)


def snapshot(obj: Any) -> dict[str, Any]:
    """Every recorded column of `obj` as JSON-safe values."""
    excluded = _excluded(obj)
    return {
        attr.key: json_value(getattr(obj, attr.key))
        for attr in inspect(type(obj)).column_attrs
        if attr.key not in excluded
    }


def pending_changes(obj: Any) -> dict[str, list[Any]]:
    """Unflushed column changes as {field: [old, new]}."""
    state = inspect(obj)
    excluded = _excluded(obj)
    changes: dict[str, list[Any]] = {}
    for attr in inspect(type(obj)).column_attrs:
        if attr.key in excluded:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            changes[attr.key] = [json_value(old), json_value(new)]
    return changes


def content_hash(obj: Any) -> str:
    return sha256_hex(canonical_json({"type": entity_type(obj), "content": snapshot(obj)}))
