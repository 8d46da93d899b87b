"""Composition of operations as data: ``Sequential``, ``OneOf``, ``SomeOf``.

As in albumentations, every node has a probability ``p``; inside ``OneOf`` and ``SomeOf`` the
children's ``p`` act as weights and a chosen child always runs. Running a node appends what was
actually applied to a log, which becomes the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from moderation.errors import ConfigError
from moderation.synth.registry import Op, op_from_dict
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


@dataclass
class Sequential:
    children: list
    p: float = 1.0

    def run(self, state, rng, log):
        for child in self.children:
            state = run_node(child, state, rng, log)
        return state

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequential", "p": self.p, "children": [c.to_dict() for c in self.children]}


@dataclass
class OneOf:
    children: list
    p: float = 1.0

    def __post_init__(self):
        _check_children(self)

    def run(self, state, rng, log):
        index = rng.choice(len(self.children), p=_weights(self.children))
        return run_node(self.children[index], state, rng, log, force=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "OneOf", "p": self.p, "children": [c.to_dict() for c in self.children]}


@dataclass
class SomeOf:
    """Apply between ``n[0]`` and ``n[1]`` distinct children, in their declared order."""

    children: list
    n: tuple[int, int] = (1, 3)
    p: float = 1.0

    def __post_init__(self):
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
        return {"type": "SomeOf", "p": self.p, "n": list(self.n),
                "children": [c.to_dict() for c in self.children]}


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
