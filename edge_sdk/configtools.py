"""Build frozen config dataclasses from plain mappings, strictly.

Each component owns a frozen dataclass (``MQTTConfig``, ``CameraConfig``...). :func:`build` turns a
mapping (from YAML, JSON or code) into one, rejecting unknown keys with the valid ones listed and
checking every value against the field's type, so a typo fails at start-up with the key's path
instead of being silently ignored on a device in the field.

Strings of the form ``${NAME}`` or ``${NAME:-default}`` are read from the environment, so secrets
(passwords, key paths) need not live in the file. Where the environment is not the device's (a
laptop running ``validate-config --allow-unset-env`` or ``deploy``), :func:`unset_env_allowed` lets an
unset one stand in and reports its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar, get_args, get_origin

from edge_sdk.errors import ConfigError

__all__ = [
    "FieldError", "bounds", "build", "check_bounds", "describe", "env_references", "expand_env", "unset_env_allowed",
]

T = TypeVar("T")
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
# Inside unset_env_allowed(): the names of unset ${NAME} references that were given a stand-in.
_STAND_INS: ContextVar[list[str] | None] = ContextVar("edge_sdk_env_stand_ins", default=None)


class FieldError(ConfigError):
    """A field's own value is wrong; :func:`build` puts the key path of the file in front of it."""

    def __init__(self, owner: str, field_name: str, detail: str) -> None:
        super().__init__(f"{owner}.{field_name}: {detail}")
        self.field_name, self.detail = field_name, detail


def bounds(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> dict[str, float]:
    """Field metadata for a numeric range, checked by :func:`check_bounds`: ``metadata={**bounds(ge=1), ...}``.

    Declared next to the field rather than typed into a ``__post_init__`` message, so the message
    always carries the key path the user wrote (``mqtt.outbox.max_bytes``), wherever it was nested.
    """
    return {key: value for key, value in (("ge", ge), ("gt", gt), ("le", le)) if value is not None}


def check_bounds(instance: Any) -> None:
    """Raise :class:`FieldError` for the first field outside its declared :func:`bounds`."""
    for f in dataclasses.fields(instance):
        ge, gt, le = f.metadata.get("ge"), f.metadata.get("gt"), f.metadata.get("le")
        if ge is None and gt is None and le is None:
            continue
        value = getattr(instance, f.name)
        if ((ge is not None and value < ge) or (gt is not None and value <= gt)
                or (le is not None and value > le)):
            raise FieldError(type(instance).__name__, f.name, f"expected {_range_text(ge, gt, le)}. Got: {value!r}")


def _range_text(ge: float | None, gt: float | None, le: float | None) -> str:
    if ge is not None and le is not None:
        return f"{ge:g} to {le:g}"
    if gt is not None:
        lower = "a positive number" if gt == 0 else f"more than {gt:g}"
    elif ge is not None:
        lower = f"at least {ge:g}"
    else:
        return f"at most {le:g}"
    return lower if le is None else f"{lower} and at most {le:g}"


def expand_env(value: str, where: str, *, number: bool = False) -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}`` with environment values (``number``: for a numeric field)."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        stand_ins = _STAND_INS.get()
        if stand_ins is not None:
            if name not in stand_ins:
                stand_ins.append(name)
            return "1" if number else f"unset-{name}"
        raise ConfigError(f"{where}: environment variable {name} is not set (referenced as {match.group(0)})")

    return _ENV_PATTERN.sub(substitute, value)


@contextlib.contextmanager
def unset_env_allowed() -> Iterator[list[str]]:
    """Inside, an unset ``${NAME}`` without a default gets a stand-in value instead of failing.

    Yields the list the stand-in names are appended to: the variables the config still needs where
    it runs. Everything else (keys, types, bounds) is checked as usual.
    """
    names: list[str] = []
    token = _STAND_INS.set(names)
    try:
        yield names
    finally:
        _STAND_INS.reset(token)


def env_references(value: Any) -> dict[str, bool]:
    """Every ``${NAME}`` in ``value`` (nested mappings and lists): name -> True when it has no default."""
    found: dict[str, bool] = {}
    if isinstance(value, str):
        for match in _ENV_PATTERN.finditer(value):
            found[match.group(1)] = found.get(match.group(1), False) or match.group(2) is None
    elif isinstance(value, (Mapping, list, tuple)):
        for item in value.values() if isinstance(value, Mapping) else value:
            for name, required in env_references(item).items():
                found[name] = found.get(name, False) or required
    return dict(sorted(found.items()))


def build(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Return ``cls(**data)`` after checking keys and types; ``where`` prefixes error paths."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of options. Got: {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{_join(where, unknown[0])}: unknown key. Valid keys{' for ' + where if where else ''}: "
            f"{', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, _join(where, name)) for name, value in data.items()}
    for name, f in fields.items():  # after the keys the user wrote: their errors come first
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(_missing_message(_join(where, name), f))
    try:
        return cls(**kwargs)
    except (ConfigError, TypeError, ValueError) as exc:
        # one field at fault (FieldError here, BridgeConfigError in firmware_bridge): say it under the key path
        field_name, detail = getattr(exc, "field_name", None), getattr(exc, "detail", None)
        if field_name and detail:
            raise ConfigError(f"{_join(where or cls.__name__, field_name)}: {detail}") from None
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def describe(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for each field: the data behind the generated config reference."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "required"
        rows.append((f.name, _type_name(hints[f.name]), default, str(f.metadata.get("help", ""))))
    return rows


def _missing_message(path: str, f: dataclasses.Field[Any]) -> str:
    """A required key that is absent: say what it is for and, when the field has one, what to add."""
    example = f.metadata.get("example")
    advice = f". Add, for example: {example}" if example else ""
    what = f.metadata.get("help")
    return f"{path}: missing{f'. Expected {what}' if what else ''}{advice}"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _type_name(tp: Any) -> str:
    """A reader's name for a field type: ``list of InputSection``, ``float or null``, ``'a', 'b'``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        named = " or ".join(_type_name(a) for a in args if a is not type(None))
        return f"{named} or null" if type(None) in args else named
    if origin is typing.Literal:
        return ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "mapping"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: expected {_type_name(tp)}. Got: {value!r}")
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, allowed))}. Got: {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        # a section that is not one-to-one with its dataclass builds itself (see config.BridgeSection)
        from_mapping = getattr(tp, "from_mapping", None)
        return from_mapping(value, where) if callable(from_mapping) else build(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list. Got: {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values. Got: {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping. Got: {value!r}")
        args = get_args(tp)
        if len(args) == 2:
            return {_coerce(args[0], k, where): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false. Got: {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return _coerce(tp, _number(expand_env(value, where, number=True), where), where)
        raise ConfigError(f"{where}: expected a number. Got: {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            number = _number(expand_env(value, where, number=True), where)
            if isinstance(number, int):
                return number
        raise ConfigError(f"{where}: expected a whole number. Got: {value!r}")
    if tp is str:
        if isinstance(value, str):
            return expand_env(value, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string. Got: {value!r}")
    return value


def _number(text: str, where: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number. Got: {text!r}") from None
