"""Registered, serialisable operations of the generator.

An operation separates *drawing* its random parameters (``sample``, from an explicit generator)
from *applying* them (``apply``, a pure function of the state and the parameters). Replaying a
recipe therefore needs only the operation's name and the parameters it recorded.

This module imports no operation. A subclass of ``Op`` registers itself when its module is
imported: the built-in ones (``ops/``, numpy and OpenCV only) are imported by the package,
``moderation.synth``, as timm's models package imports its models. Operations that need torch
are named in ``PLUGINS`` instead, and their module is imported only when one is chosen.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from moderation.errors import ConfigError
from moderation.synth.state import SwapState

STEPS = ("geometry", "degrade", "colour", "mask", "occlusion", "fusion")

_REGISTRY: dict[str, type[Op]] = {}
# Operations whose module imports torch: key -> the module that registers it, imported by
# ``get_op`` (a pipeline or recipe that names the key) and ``registered_ops``, never by
# ``list_ops``.
PLUGINS: dict[str, str] = {"fusion/learned": "moderation.learned.fusion"}


@dataclass(kw_only=True)
class Op:
    """Base class: subclasses are dataclasses whose fields are the ranges ``sample`` draws from.

    ``p`` is the probability of running; inside ``OneOf``/``SomeOf`` it acts as a weight.
    ``apply`` must use only its keyword parameters, never the instance's fields, so that a
    recipe can be replayed with a default-constructed operation.
    """

    step: ClassVar[str] = ""
    name: ClassVar[str] = ""
    p: float = 1.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            if cls.step not in STEPS:
                raise TypeError(f"{cls.__name__}.step must be one of {STEPS}, not {cls.step!r}")
            key = f"{cls.step}/{cls.name}"
            if key in _REGISTRY:
                raise TypeError(f"operation {key} is registered twice")
            _REGISTRY[key] = cls

    def __post_init__(self) -> None:
        check_range(self, "p", self.p, 0.0, 1.0)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):  # JSON gives lists; keep fields hashable and uniform
                setattr(self, field.name, tuple(value))
        self.validate()

    @classmethod
    def key(cls) -> str:
        return f"{cls.step}/{cls.name}"

    def validate(self) -> None:
        """Check the fields; raise ``ConfigError`` naming the bad value."""

    def sample(self, rng: np.random.Generator, state: SwapState) -> dict[str, Any]:
        """Draw this operation's parameters. Values must be JSON-native (int, float, str, lists)."""
        return {}

    def apply(self, state: SwapState, **params: Any) -> SwapState:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"op": self.key(), **fields}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def check_range(op: Any, field: str, value: Any, low: float, high: float) -> None:
    """Raise ``ConfigError`` unless ``value`` (a number or a (low, high) pair) is in [low, high]."""
    values = value if isinstance(value, Sequence) else (value,)
    if isinstance(value, Sequence) and (len(value) != 2 or value[0] > value[1]):
        raise ConfigError(f"{type(op).__name__}.{field}={value!r}: expected a (low, high) pair")
    for number in values:
        if not (low <= number <= high):
            raise ConfigError(
                f"{type(op).__name__}.{field}={value!r}: values must lie in [{low}, {high}]"
            )


def get_op(key: str) -> type[Op]:
    """The operation registered as ``key`` (``step/name``); a plug-in's module is imported."""
    if key not in _REGISTRY and key in PLUGINS:
        importlib.import_module(PLUGINS[key])
        if key not in _REGISTRY:
            raise ConfigError(f"{PLUGINS[key]} was imported for operation {key!r} but does "
                              "not register it")
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ConfigError(
            f"unknown operation {key!r}; `moderation synth --list` shows them") from None


def list_ops(pattern: str = "*") -> list[str]:
    """Keys (``step/name``) of the registered operations and plug-ins matching the shell-style
    ``pattern``, in the order of the generator's steps, then by name. Imports nothing."""
    keys = fnmatch.filter(set(_REGISTRY) | set(PLUGINS), pattern)
    return sorted(keys, key=_order)


def registered_ops() -> list[type[Op]]:
    """Every operation's class, in the order of ``list_ops``; imports the plug-ins' modules."""
    return [get_op(key) for key in list_ops()]


def _order(key: str) -> tuple[int, str]:
    step, _, name = key.partition("/")
    return STEPS.index(step), name


def op_from_dict(data: dict[str, Any]) -> Op:
    data = dict(data)
    cls = get_op(data.pop("op"))
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{cls.key()}: {exc}") from None
