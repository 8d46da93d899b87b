"""Face crops: a square around the detector's box with a margin, optionally aligned on the five
landmarks. The geometry is a small record that travels with a detector's checkpoint, so the
worker crops exactly as training did."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from moderation.errors import ConfigError
from moderation.faces.detection import Detection
from moderation.synth.functional.geometry import similarity

# Where the five landmarks sit in a 112 px aligned face (the layout ArcFace popularised),
# as fractions of the side so that any crop size can use it.
FIVE_POINT_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                [41.5493, 92.3655], [70.7299, 92.2041]], np.float32) / 112.0


@dataclass(frozen=True)
class CropGeometry:
    """``size`` px square crops whose side is ``1 + 2 * margin`` times the face box's side.

    With ``align`` the five landmarks are moved onto the template (scaled into the margin), which
    levels the eyes; without it the crop is axis-aligned, centred on the box.
    """

    size: int = 224
    margin: float = 0.3
    align: bool = False

    def __post_init__(self):
        if self.size < 16:
            raise ConfigError(f"CropGeometry.size={self.size}: must be at least 16 px")
        if not 0.0 <= self.margin <= 2.0:
            raise ConfigError(f"CropGeometry.margin={self.margin}: must lie in [0, 2]")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CropGeometry:
        return cls(**data)


def crop_matrix(detection: Detection, geometry: CropGeometry) -> np.ndarray:
    """The 2x3 affine taking frame pixels to crop pixels."""
    if geometry.align and detection.points is not None:
        inner = 1.0 / (1.0 + 2.0 * geometry.margin)  # the template fills the unmargined box
        template = ((FIVE_POINT_TEMPLATE - 0.5) * inner + 0.5) * geometry.size
        return similarity(detection.points, template)
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * geometry.margin)
    scale = geometry.size / side
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[scale, 0, geometry.size / 2 - centre_x * scale],
                     [0, scale, geometry.size / 2 - centre_y * scale]])


def crop_face(image: np.ndarray, detection: Detection, geometry: CropGeometry) -> np.ndarray:
    """The face crop, BGR uint8 ``size`` x ``size``; outside the frame is black."""
    # Bilinear is enough down to half size, which covers faces up to 450 px at 224; warpAffine
    # has no area filter.
    return cv2.warpAffine(image, crop_matrix(detection, geometry), (geometry.size, geometry.size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


# Share of a crop's side added on each side (edge pixels repeated) before looking for its face:
# a face that the crop's edges cut through is often missed by a detector that expects context.
CROP_PAD = 0.25


def locate_face(image: np.ndarray, detector) -> Detection | None:
    """The largest face of ``image`` found by ``detector``, looked for in the image and, when
    none is found there, in the image padded by its own edge pixels; None if neither finds one.
    Boxes are in ``image``'s pixels (they may reach past its edges)."""
    found = detector.detect([image])[0] or detect_padded(image, detector)
    return max(found, key=lambda d: d.side) if found else None


def detect_padded(image: np.ndarray, detector) -> list[Detection]:
    """The faces ``detector`` finds in ``image`` padded by its own edge pixels, in ``image``'s
    pixels: the second look for a face cut by the image's edges."""
    height, width = image.shape[:2]
    pad = int(CROP_PAD * max(height, width))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return [_shifted(d, -pad) for d in detector.detect([padded])[0]]


def reframe_crop(image: np.ndarray, detector, geometry: CropGeometry) -> np.ndarray:
    """A face crop of any framing (tight, loose, off-centre) re-cut to ``geometry``: the face
    is located inside it, or taken to fill it when none is found (what a tight crop is)."""
    found = locate_face(image, detector)
    if found is None:
        height, width = image.shape[:2]
        found = Detection(np.float32([0, 0, width, height]), 0.0)
    return crop_face(image, found, geometry)


def _shifted(detection: Detection, offset: float) -> Detection:
    points = None if detection.points is None else detection.points + np.float32(offset)
    return Detection(detection.box + np.float32(offset), detection.score, points)
