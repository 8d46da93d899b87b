"""The detector registry: names without imports, and only the chosen detector's module loaded."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest

from moderation.config import Settings
from moderation.errors import ConfigError
from moderation.faces import detection
from moderation.faces.detection import PLUGINS, available_detectors, build_detector


def _modules_after(code: str) -> list[str]:
    """Which heavy modules a fresh interpreter holds after running ``code``."""
    probe = (f"import sys\n{code}\nprint(sorted(m for m in ('torch', 'facenet_pytorch', "
             "'retinaface', 'moderation.faces.mtcnn', 'moderation.faces.retinaface') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_listing_the_detectors_imports_none():
    code = ("from moderation.faces.detection import available_detectors\n"
            "assert available_detectors() == ['mtcnn', 'retinaface']")
    assert _modules_after(code) == []


def test_choosing_mtcnn_leaves_retinaface_unimported():
    code = ("from moderation.config import Settings\n"
            "from moderation.faces.detection import build_detector\n"
            "assert build_detector(Settings(face_detector='mtcnn')).name == 'mtcnn'")
    assert _modules_after(code) == ["facenet_pytorch", "moderation.faces.mtcnn", "torch"]


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_each_plug_in_module_registers_its_name(name):
    importlib.import_module(PLUGINS[name])
    assert detection._DETECTORS[name].name == name


def test_an_unknown_detector_names_the_choices():
    assert available_detectors() == sorted(PLUGINS)
    with pytest.raises(ConfigError, match=r"'dlib' is unknown; choose one of \['mtcnn', "):
        build_detector(Settings(face_detector="dlib"))
