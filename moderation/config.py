"""The settings object: the one place that reads the environment.

Every variable has the prefix ``MODERATION_`` (for example ``MODERATION_CACHE_DIR``).
Other modules receive a :class:`Settings` instance instead of reading the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATION_", env_file=None)

    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "moderation",
        description="Where derived data (landmark caches) is kept between runs.",
    )
    landmark_upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        description="Times dlib's face detector upsamples before looking for faces. "
        "0 finds faces of about 80 px and larger, 4x faster than 1.",
    )
    min_image_px: int = Field(
        default=64, ge=16, description="Images whose shorter side is smaller are rejected."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
