"""Every registered operation, checked the day it is added: seeding, types, ranges, round trips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from moderation.errors import ConfigError
from moderation.synth.registry import (
    PLUGINS,
    STEPS,
    get_op,
    list_ops,
    op_from_dict,
    registered_ops,
)

OPS = registered_ops()


def test_every_step_has_operations():
    assert {op.step for op in OPS} == set(STEPS)
    names = {op.key() for op in OPS}
    for expected in ["degrade/gaussian_blur", "degrade/box_blur", "degrade/dual_kawase_blur",
                     "degrade/bokeh_blur", "degrade/tilt_shift_blur", "degrade/jpeg",
                     "degrade/webp", "degrade/resample", "degrade/gaussian_noise",
                     "degrade/poisson_noise", "degrade/salt_and_pepper", "colour/linear",
                     "colour/lab", "colour/pdf_transfer", "colour/histogram_matching",
                     "mask/hull", "mask/elastic", "mask/piecewise_affine", "occlusion/subtract",
                     "fusion/alpha", "fusion/poisson", "fusion/laplacian_pyramid",
                     "fusion/wavelet"]:
        assert expected in names


def _arrays(state):
    return {name: getattr(state, name) for name in ("source", "target", "mask", "fake")
            if getattr(state, name) is not None}


@pytest.mark.parametrize("op_class", OPS, ids=lambda op: op.key())
def test_seeded_determinism_and_types(op_class, state):
    op = op_class()
    params = op.sample(np.random.default_rng(7), state)
    assert params == op.sample(np.random.default_rng(7), state)
    # Parameters survive JSON unchanged: that is what a recipe stores.
    assert json.loads(json.dumps(params)) == params
    first, second = op.apply(state, **params), op.apply(state, **params)
    for name, array in _arrays(first).items():
        np.testing.assert_array_equal(array, getattr(second, name), err_msg=name)
    assert first.source.shape == state.source.shape and first.source.dtype == np.uint8
    assert first.mask.dtype == np.float32 and first.mask.shape == (256, 256)
    assert 0.0 <= first.mask.min() and first.mask.max() <= 1.0
    if op_class.step == "fusion":
        assert first.fake.shape == state.target.shape and first.fake.dtype == np.uint8


@pytest.mark.parametrize("op_class", [op for op in OPS if op.step in ("degrade", "colour")],
                         ids=lambda op: op.key())
def test_image_operations_change_the_source(op_class, state):
    op = op_class()
    changed = op.apply(state, **op.sample(np.random.default_rng(3), state))
    assert not np.array_equal(changed.source, state.source)
    np.testing.assert_array_equal(changed.target, state.target)


@pytest.mark.parametrize("op_class", OPS, ids=lambda op: op.key())
def test_dict_round_trip(op_class):
    op = op_class(p=0.25)
    rebuilt = op_from_dict(json.loads(json.dumps(op.to_dict())))
    assert rebuilt == op and type(rebuilt) is op_class


def test_bad_arguments_name_the_value():
    with pytest.raises(ConfigError, match=r"GaussianBlur\.kernels=\(4,\)"):
        get_op("degrade/gaussian_blur")(kernels=(4,))
    with pytest.raises(ConfigError, match=r"Jpeg\.quality=\(0, 50\)"):
        get_op("degrade/jpeg")(quality=(0, 50))
    with pytest.raises(ConfigError, match=r"p=1\.5"):
        get_op("fusion/alpha")(p=1.5)
    with pytest.raises(ConfigError, match="unknown operation 'degrade/nope'"):
        get_op("degrade/nope")


def test_list_ops_names_every_operation_and_plug_in_in_order():
    assert list_ops() == [op.key() for op in OPS]
    assert set(PLUGINS) <= set(list_ops())
    assert list_ops("fusion/*")[0] == "fusion/alpha" and "fusion/learned" in list_ops("fusion/*")
    assert list_ops("nope/*") == []


@pytest.mark.parametrize("key", sorted(PLUGINS))
def test_each_plug_in_module_registers_its_key(key):
    op_class = get_op(key)
    assert op_class.key() == key and op_class.__module__ == PLUGINS[key]


def test_a_plug_in_module_that_does_not_register_its_key_is_named(monkeypatch):
    monkeypatch.setitem(PLUGINS, "fusion/absent", "moderation.synth.state")
    with pytest.raises(ConfigError, match="moderation.synth.state .* does not register"):
        get_op("fusion/absent")


def test_the_registry_and_the_generator_import_no_plug_in():
    code = ("import sys\nfrom moderation.synth.registry import get_op, list_ops\n"
            "from moderation.synth.generator import SEGMENTERS, FakeGenerator\n"
            "assert 'fusion/learned' in list_ops() and SEGMENTERS\nget_op('fusion/poisson')\n"
            "print(sorted(m for m in ('torch', 'moderation.learned') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"
