"""Composition as data: probabilities, weights, subsets and round trips."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from moderation.errors import ConfigError
from moderation.synth.compose import OneOf, Sequential, SomeOf, node_from_dict, run_node
from moderation.synth.ops import degrade
from moderation.synth.pipeline import default_pipeline


def _applied(node, state, seed):
    log = []
    run_node(node, state, np.random.default_rng(seed), log, force=True)
    return [entry.op for entry in log]


def test_one_of_uses_children_p_as_weights(state):
    node = OneOf([degrade.Jpeg(p=0.0), degrade.BoxBlur(p=1.0), degrade.GaussianBlur(p=1.0)])
    counts = Counter(op for seed in range(200) for op in _applied(node, state, seed))
    assert counts["degrade/jpeg"] == 0
    assert 70 < counts["degrade/box_blur"] < 130 and sum(counts.values()) == 200


def test_some_of_applies_a_non_empty_subset_in_order(state):
    children = [degrade.Jpeg(), degrade.BoxBlur(), degrade.GaussianBlur(), degrade.Webp()]
    node = SomeOf(children, n=(1, 3))
    order = [child.key() for child in children]
    sizes = Counter()
    for seed in range(100):
        applied = _applied(node, state, seed)
        sizes[len(applied)] += 1
        assert applied == sorted(applied, key=order.index) and len(set(applied)) == len(applied)
    assert set(sizes) == {1, 2, 3}


def test_probability_zero_never_runs(state):
    node = Sequential([degrade.Jpeg(p=0.0), degrade.BoxBlur(p=1.0)])
    assert all(_applied(node, state, seed) == ["degrade/box_blur"] for seed in range(20))


def test_some_of_rejects_impossible_counts():
    with pytest.raises(ConfigError, match=r"SomeOf.n=\(1, 5\)"):
        SomeOf([degrade.Jpeg(), degrade.BoxBlur()], n=(1, 5))


@pytest.mark.parametrize("mode", ["pair", "self"])
def test_pipeline_round_trips_through_json(mode, state):
    pipeline = default_pipeline(mode)
    rebuilt = node_from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert rebuilt.to_dict() == pipeline.to_dict()
    for seed in range(5):
        assert _applied(rebuilt, state, seed) == _applied(pipeline, state, seed)
