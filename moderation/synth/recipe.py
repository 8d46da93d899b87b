"""The recipe of a fake: everything needed to rebuild it bit for bit, as one JSON object."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moderation import __version__
from moderation.errors import ConfigError
from moderation.synth.compose import AppliedOp

RECIPE_VERSION = 1


@dataclass
class Recipe:
    seed: int
    mode: str
    source: str
    target: str
    size: int
    crop_scale: float | None
    landmarks: str
    ops: list[AppliedOp]
    occlusion: dict[str, Any] | None = None
    given_mask: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = RECIPE_VERSION
    library: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ops"] = [op.to_dict() for op in self.ops]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        data = dict(data)
        version = data.get("version")
        if version != RECIPE_VERSION:
            raise ConfigError(f"recipe version {version!r} is not supported (expected "
                              f"{RECIPE_VERSION})")
        try:
            data["ops"] = [AppliedOp(op["op"], op["params"]) for op in data["ops"]]
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed recipe: {exc}") from None


def read_recipes(path: Path) -> list[Recipe]:
    """Read a JSON-lines file of recipes; a bad line is an error naming the file and line."""
    recipes = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            recipes.append(Recipe.from_dict(json.loads(line)))
        except (json.JSONDecodeError, ConfigError) as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
    return recipes
