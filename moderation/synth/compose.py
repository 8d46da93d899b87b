"""Composition of operations as data: ``Sequential``, ``OneOf``, ``SomeOf``.

As in albumentations, every node has a probability ``p``; inside ``OneOf`` and ``SomeOf`` the
children's ``p`` act as weights and a chosen child always runs. Running a node appends what was
actually applied to a log, which becomes the recipe.

Nodes are found by name, never by position (``find_node(pipeline, "fusion")``): a composition
may carry a ``name``; otherwise a step's name ("degrade", "mask", ...) finds the outermost node
whose operations all belong to that step, and an operation's key ("fusion/alpha") finds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from moderation.errors import ConfigError
from moderation.synth.registry import STEPS, Op, op_from_dict
from moderation.synth.state import SwapState


@dataclass(frozen=True)
class AppliedOp:
    """One operation as it ran: enough to replay it."""

    op: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "params": self.params}




def run_node(node, state: SwapState, rng: np.random.Generator, log: list[AppliedOp],
             force: bool = False) -> SwapState:
    """Run an operation or a composition; ``force`` skips the node's own probability draw."""
    # The draw happens even when p == 1 so that changing one p never shifts later draws.
    chance = rng.random()
    if not force and chance >= node.p:
        return state
    if isinstance(node, Op):
        params = node.sample(rng, state)
        log.append(AppliedOp(node.key(), params))
        return node.apply(state, **params)
    return node.run(state, rng, log)


class Composition:
    """What the compositions share: an optional ``name`` and the lookup of nodes by name."""

    children: list
    p: float
    name: str | None

    def find(self, name: str):
        """The node called ``name`` in this tree (see ``find_node``)."""
        return find_node(self, name)

    def _dict(self, kind: str, **fields: Any) -> dict[str, Any]:
        # "name" only when set: an unnamed tree serialises as it did before names existed.
        named = {"name": self.name} if self.name is not None else {}
        return {"type": kind, **named, "p": self.p, **fields,
                "children": [child.to_dict() for child in self.children]}


@dataclass
class Sequential(Composition):
    children: list
    p: float = 1.0
    name: str | None = None

    def __post_init__(self):
        _check_name(self)

    def run(self, state, rng, log):
        for child in self.children:
            state = run_node(child, state, rng, log)
        return state

    def to_dict(self) -> dict[str, Any]:
        return self._dict("Sequential")


@dataclass
class OneOf(Composition):
    children: list
    p: float = 1.0
    name: str | None = None

    def __post_init__(self):
        _check_name(self)
        _check_children(self)

    def run(self, state, rng, log):
        index = rng.choice(len(self.children), p=_weights(self.children))
        return run_node(self.children[index], state, rng, log, force=True)

    def to_dict(self) -> dict[str, Any]:
        return self._dict("OneOf")


@dataclass
class SomeOf(Composition):
    """Apply between ``n[0]`` and ``n[1]`` distinct children, in their declared order."""

    children: list
    n: tuple[int, int] = (1, 3)
    p: float = 1.0
    name: str | None = None

    def __post_init__(self):
        _check_name(self)
        _check_children(self)
        self.n = tuple(self.n)
        low, high = self.n
        if not (0 <= low <= high <= len(self.children)):
            raise ConfigError(f"SomeOf.n={self.n!r}: need 0 <= low <= high <= {len(self.children)}")

    def run(self, state, rng, log):
        count = int(rng.integers(self.n[0], self.n[1] + 1))
        chosen = rng.choice(len(self.children), size=count, replace=False,
                            p=_weights(self.children))
        for index in sorted(chosen):
            state = run_node(self.children[index], state, rng, log, force=True)
        return state

    def to_dict(self) -> dict[str, Any]:
        return self._dict("SomeOf", n=list(self.n))


def _check_name(node) -> None:
    if node.name is not None and (not isinstance(node.name, str) or not node.name
                                  or "/" in node.name):
        raise ConfigError(f"{type(node).__name__}.name={node.name!r}: expected a non-empty "
                          "string without '/' (that form names an operation)")


def walk(node) -> Iterator:
    """``node`` and every node under it, parents before children, in declared order."""
    yield node
    for child in getattr(node, "children", ()):
        yield from walk(child)


def _steps(node) -> set[str]:
    """The steps of the operations under ``node``."""
    return {n.step for n in walk(node) if isinstance(n, Op)}


def find_node(root, name: str):
    """The node of ``root``'s tree called ``name``, without regard to its position.

    ``name`` is, in this order of precedence: a composition's ``name``; an operation's key
    (``step/name``); a step of ``STEPS``, which finds the outermost node whose operations all
    belong to that step (the default recipe's ``SomeOf`` of degradations for "degrade"). The
    node is returned, not a copy: editing it edits the tree. No match, or several, is a
    ``ConfigError`` naming what the tree has.
    """
    nodes = list(walk(root))
    found = [n for n in nodes if isinstance(n, Composition) and n.name == name]
    if not found and "/" in name:
        found = [n for n in nodes if isinstance(n, Op) and n.key() == name]
    if not found and name in STEPS:
        found = _outermost_of_step(root, name)
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(f"pipeline node {name!r} is ambiguous: {len(found)} nodes match; "
                          "give the one meant a name")
    names = sorted({n.name for n in nodes if isinstance(n, Composition) and n.name})
    raise ConfigError(f"the pipeline has no node {name!r}; it has the named nodes {names} and "
                      f"the steps {[step for step in STEPS if step in _steps(root)]}")


def _outermost_of_step(node, step: str) -> list:
    if _steps(node) == {step}:
        return [node]
    return [found for child in getattr(node, "children", ())
            for found in _outermost_of_step(child, step)]


def _check_children(node) -> None:
    if not node.children:
        raise ConfigError(f"{type(node).__name__} needs at least one child")
    if sum(child.p for child in node.children) <= 0:
        raise ConfigError(f"{type(node).__name__}: the children's weights (p) sum to zero")


def _weights(children) -> np.ndarray:
    weights = np.array([child.p for child in children], dtype=np.float64)
    return weights / weights.sum()


_COMPOSITIONS = {"Sequential": Sequential, "OneOf": OneOf, "SomeOf": SomeOf}


def node_from_dict(data: dict[str, Any]):
    """Rebuild an operation or a composition from ``to_dict`` output."""
    if "op" in data:
        return op_from_dict(data)
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in _COMPOSITIONS:
        raise ConfigError(
            f"unknown composition type {kind!r}; expected one of {list(_COMPOSITIONS)}")
    children = [node_from_dict(child) for child in data.pop("children", [])]
    return _COMPOSITIONS[kind](children=children, **data)
