"""Pipelines as files (``Pipeline.save``/``load``, with a format version) and nodes found by
name, not by position."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moderation.errors import ConfigError
from moderation.synth.compose import OneOf, Sequential, SomeOf, find_node, run_node
from moderation.synth.generator import FakeGenerator
from moderation.synth.ops import degrade, fusion
from moderation.synth.pipeline import MODES, PIPELINE_VERSION, Pipeline, default_pipeline
from moderation.synth.registry import registered_ops

OPS = registered_ops()


@pytest.mark.parametrize("op_class", OPS, ids=lambda c: c.key())
def test_every_operation_round_trips_through_a_pipeline_file(op_class, tmp_path):
    op = op_class(p=0.5)
    pipeline = Pipeline(Sequential([OneOf([op, op_class()], name="choice"),
                                    SomeOf([op_class()], n=(1, 1))], name="all"))
    loaded = Pipeline.load(pipeline.save(tmp_path / "pipeline.json"))
    assert loaded.to_dict() == pipeline.to_dict()
    assert loaded.find("choice").children[0] == op and loaded.find("all") is loaded.root


@pytest.mark.parametrize("mode", MODES)
def test_the_default_pipeline_from_a_file_makes_the_same_fakes(mode, tmp_path, state,
                                                               framed_astronaut, recoloured):
    pipeline = Pipeline(default_pipeline(mode))
    path = pipeline.save(tmp_path / f"{mode}.json")
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("moderation.synth.pipeline", PIPELINE_VERSION)
    assert data["root"] == default_pipeline(mode).to_dict()  # the tree's dict, unchanged
    loaded = Pipeline.load(path)
    for seed in range(3):
        logs = [], []
        made = [run_node(p, state, np.random.default_rng(seed), log, force=True)
                for p, log in zip((pipeline.root, loaded.root), logs, strict=True)]
        np.testing.assert_array_equal(made[0].fake, made[1].fake)
        assert logs[0] == logs[1]
    image, landmarks = framed_astronaut
    kwargs = {"seed": 5, "source_landmarks": landmarks, "framed": True}
    target = None if mode == "self" else recoloured
    if target is not None:
        kwargs["target_landmarks"] = landmarks
    in_memory = FakeGenerator(mode=mode).make(image, target, **kwargs)
    from_file = FakeGenerator(loaded, mode=mode).make(image, target, **kwargs)
    np.testing.assert_array_equal(in_memory.fake, from_file.fake)
    assert in_memory.recipe == from_file.recipe


def test_bad_pipeline_files_are_errors_naming_the_file(tmp_path):
    path = tmp_path / "p.json"
    with pytest.raises(ConfigError, match="p.json: cannot be read"):
        Pipeline.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="p.json: not JSON"):
        Pipeline.load(path)
    good = Pipeline(default_pipeline()).to_dict()
    path.write_text(json.dumps(good["root"]))  # a bare tree: no format, no version
    with pytest.raises(ConfigError, match="p.json: not a pipeline"):
        Pipeline.load(path)
    path.write_text(json.dumps({**good, "version": 99}))
    with pytest.raises(ConfigError, match="p.json: pipeline version 99 is not supported"):
        Pipeline.load(path)
    path.write_text(json.dumps({**good, "root": {"op": "fusion/nope"}}))
    with pytest.raises(ConfigError, match="p.json: unknown operation 'fusion/nope'"):
        Pipeline.load(path)


def test_nodes_are_found_by_step_key_or_name_wherever_they_are():
    pipeline = default_pipeline("pair")
    assert find_node(pipeline, "fusion") is pipeline.children[-1]
    assert find_node(pipeline, "degrade") is pipeline.children[1]
    assert find_node(pipeline, "mask") is pipeline.children[3]
    assert find_node(pipeline, "geometry") is pipeline.children[0]  # an operation alone
    assert find_node(pipeline, "fusion/poisson") is pipeline.children[-1].children[1]
    # Moved and nested elsewhere, a step is still found; a name wins over a step.
    moved = Sequential([Sequential([pipeline.children[-1], pipeline.children[1]]),
                        pipeline.children[0]])
    assert find_node(moved, "fusion") is pipeline.children[-1]
    wrapped = Sequential([pipeline.children[-1]])  # the outermost node of the step is found
    assert find_node(Sequential([wrapped, pipeline.children[0]]), "fusion") is wrapped
    named = OneOf([fusion.Alpha()], name="fusion")
    assert find_node(Sequential([named, OneOf([fusion.Poisson()])]), "fusion") is named


def test_a_missing_or_ambiguous_node_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no node 'blend'; it has the named nodes \[\] and "
                                          r"the steps \['geometry', 'degrade', 'colour'"):
        find_node(default_pipeline(), "blend")
    twice = Sequential([OneOf([fusion.Alpha()]), degrade.Jpeg(), OneOf([fusion.Poisson()])])
    with pytest.raises(ConfigError, match="'fusion' is ambiguous: 2 nodes match"):
        find_node(twice, "fusion")
    with pytest.raises(ConfigError, match="'/' .*names an operation"):
        Sequential([degrade.Jpeg()], name="degrade/jpeg")
