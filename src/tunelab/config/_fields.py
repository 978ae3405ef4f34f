"""Config errors and typed reads of config values that name the offending field."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunelab._validation import is_int
from tunelab.exceptions import TunelabError

MAX_DEPTH = 50
MAX_VALUES = 100_000
_INT64 = (-(2**63), 2**63 - 1)


class ConfigError(TunelabError, ValueError):
    """A study config (or a data or model spec) is invalid.

    Attributes:
        file: The config file, when there is one.
        field: Dotted path of the offending field, e.g. ``space.max_depth.int``.
        reason: What was wrong and what was expected.
    """

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file, self.field, self.reason = file, field, reason
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


class Fields:
    """Typed reads of config values; every failure is a ConfigError naming file and field."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(self, field: str, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, field=field or None)

    def mapping(
        self,
        value: Any,
        field: str,
        *,
        allowed: Sequence[str] | None,
        required: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A mapping whose keys are all in ``allowed`` (None: any string keys)."""
        if not isinstance(value, Mapping):
            keys = "string keys" if allowed is None else f"keys {list(allowed)}"
            raise self.fail(field, f"expected a mapping with {keys}, got {value!r}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(field, f"expected string keys, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(join_field(field, key), unknown_value("key", key, allowed))
        for key in required:
            if key not in value:
                raise self.fail(join_field(field, key), "required, but missing")
        return dict(value)

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(field, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: Any, field: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
            raise self.fail(field, f"expected a string or a list of strings, got {value!r}")
        return tuple(items)

    def integer(
        self, value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        if not is_int(value):
            raise self.fail(field, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(field, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(field, f"must be <= {maximum:,}, got {value:,}")
        return value

    def positive(self, value: Any, field: str) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not np.isfinite(value) or value <= 0:
            raise self.fail(field, f"expected a positive number, got {value!r}")
        return float(value)

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {value!r}")
        return value

    def choice(self, value: Any, field: str, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.fail(field, unknown_value("value", value, choices))
        return str(value)


def check_values(check: Fields, raw: Any) -> None:
    """Bound the shape of a whole config before any field is read.

    Every integer must fit in 64 bits (the models and samplers that receive them are
    compiled code that would overflow), nesting is at most :data:`MAX_DEPTH` levels
    and the config holds at most :data:`MAX_VALUES` values once YAML aliases are
    expanded (storing it as JSON expands them).
    """
    stack: list[tuple[str, Any, int]] = [("", raw, 0)]
    count = 0
    while stack:
        field, value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise check.fail(
                "", f"the config holds more than {MAX_VALUES:,} values (YAML aliases expanded)"
            )
        if depth > MAX_DEPTH:
            raise check.fail(field, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            raise check.fail(
                field,
                f"an integer of {value.bit_length()} bits is out of range: "
                "integers must lie in [-2**63, 2**63 - 1]",
            )
        if isinstance(value, Mapping):
            stack.extend((join_field(field, str(k)), v, depth + 1) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{field}[{i}]", v, depth + 1) for i, v in enumerate(value))


def join_field(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def unknown_value(what: str, value: Any, known: Sequence[str]) -> str:
    hint = did_you_mean(value, known)
    listed = ", ".join(map(str, known)) if len(known) <= 20 else f"{len(known)} names"
    return f"unknown {what} {value!r}{hint} (expected one of: {listed})"


def did_you_mean(value: Any, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def jsonable(check: Fields, value: Any, field: str) -> Any:
    """``value`` as JSON would store it (the study keeps the config in its user attributes)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise check.fail(
            field, f"must hold only strings, numbers, booleans, null, lists and mappings: {value!r}"
        ) from None
