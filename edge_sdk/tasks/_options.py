"""Strict parsing of a task's ``params`` into its frozen options dataclass.

Like :func:`edge_sdk.configtools.build`, but the errors are :class:`BundleError` (a task spec lives
in the bundle manifest) and strings are taken as written: a manifest is a portable artifact, so no
``${ENV}`` expansion happens here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from edge_sdk.errors import BundleError

__all__ = ["OptionError", "check", "parse_options"]

T = TypeVar("T")


class OptionError(BundleError):
    """One option's value is wrong; :func:`parse_options` puts the option's path in front of it."""

    def __init__(self, field_name: str, detail: str) -> None:
        super().__init__(f"{field_name}: {detail}")
        self.field_name, self.detail = field_name, detail


def check(condition: bool, field_name: str, detail: str) -> None:
    """Raise :class:`OptionError` for ``field_name`` unless ``condition`` holds (for ``__post_init__``)."""
    if not condition:
        raise OptionError(field_name, detail)


def parse_options(cls: type[T], params: Any, where: str) -> T:
    """``cls(**params)`` after checking names and types; errors start with ``where`` (``task 'detect' params``)."""
    if not isinstance(params, Mapping):
        raise BundleError(f"{where}: expected a mapping of options. Got: {type(params).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields)) or "none (this task takes no options)"
        raise BundleError(f"{where}.{unknown[0]}: unknown option. Valid options: {valid}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in params.items()}
    for name, f in fields.items():
        if name not in params and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            what = f.metadata.get("help")
            raise BundleError(f"{where}.{name}: missing{f'. Expected {what}' if what else ''}")
    try:
        return cls(**kwargs)
    except OptionError as exc:
        raise BundleError(f"{where}.{exc.field_name}: {exc.detail}") from None


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(arg, value, where)
            except BundleError as exc:
                errors.append(str(exc))
        raise BundleError(errors[0] if len(errors) == 1 else f"{where}: expected {_name(tp)}. Got: {_got(value)}")
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise BundleError(f"{where}: expected one of {', '.join(map(repr, allowed))}. Got: {_got(value)}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return parse_options(tp, value, where)
    if origin in (Mapping, dict):  # a name -> value table (the generate task's state wiring)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
            raise BundleError(f"{where}: expected a mapping with non-empty string keys. Got: {_got(value)}")
        item = get_args(tp)[1]
        return {k: _coerce(item, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise BundleError(f"{where}: expected a list. Got: {_got(value)}")
        item = get_args(tp)[0]
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise BundleError(f"{where}: expected true or false. Got: {_got(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise BundleError(f"{where}: expected a number. Got: {_got(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise BundleError(f"{where}: expected a whole number. Got: {_got(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise BundleError(f"{where}: expected a string. Got: {_got(value)}")
    raise TypeError(f"{where}: option type {tp!r} is not supported by parse_options")  # a bug in a task module


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
