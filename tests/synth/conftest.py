from __future__ import annotations

import cv2
import numpy as np
import pytest

from moderation.faces.landmarks import LandmarkDetector
from moderation.synth.framing import frame_face
from moderation.synth.functional.mask import hull_mask, soften
from moderation.synth.state import SwapState


@pytest.fixture(scope="session")
def detector() -> LandmarkDetector:
    return LandmarkDetector()


@pytest.fixture(scope="session")
def framed_astronaut(astronaut, detector):
    """The astronaut framed at 256 px with its landmarks."""
    return frame_face(astronaut, detector(astronaut, "astronaut"), 256, 2.0)


@pytest.fixture(scope="session")
def recoloured(framed_astronaut) -> np.ndarray:
    """The framed astronaut with a strong colour cast and lower contrast: a "different" B."""
    image = framed_astronaut[0].astype(np.float32)
    image = (image - 128) * 0.7 + 128 + np.float32([40, -10, -30])
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture()
def state(framed_astronaut, recoloured) -> SwapState:
    """A state ready for any step: B recoloured and shifted, a soft mask and an occlusion."""
    image, landmarks = framed_astronaut
    shift = np.float32([[1, 0, 6], [0, 1, -4]])
    target = cv2.warpAffine(recoloured, shift, (256, 256), borderMode=cv2.BORDER_REFLECT)
    occlusion = np.zeros((256, 256), np.float32)
    occlusion[150:190, 100:160] = 1.0
    return SwapState(source=image, target=target, source_landmarks=landmarks,
                     target_landmarks=landmarks + np.float32([6, -4]),
                     mask=soften(hull_mask(landmarks, (256, 256)), 15), occlusion=occlusion)
