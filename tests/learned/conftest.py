from __future__ import annotations

import numpy as np
import pytest

from moderation.faces.landmarks import LandmarkDetector
from moderation.learned.occlusion import OcclusionNet
from moderation.synth.framing import frame_face


@pytest.fixture(scope="session")
def detector() -> LandmarkDetector:
    return LandmarkDetector()


@pytest.fixture(scope="session")
def framed(astronaut, detector) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut framed at 256 px as the generator frames B, with its landmarks."""
    return frame_face(astronaut, detector(astronaut, "astronaut"), 256, 2.0)


@pytest.fixture(scope="session")
def occlusion_net() -> OcclusionNet:
    return OcclusionNet()


@pytest.fixture(scope="module")
def learned_fusion_module():
    """The module of ``fusion/learned`` (registered with the built-in operations)."""
    from moderation.learned import fusion

    return fusion
