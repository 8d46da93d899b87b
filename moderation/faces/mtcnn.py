"""MTCNN (Zhang et al., 2016) with the weights that ship in the ``facenet-pytorch`` wheel: the
offline default detector.

The three networks and their box helpers come from facenet-pytorch. The cascade is driven here
because its own driver crops every candidate box in a Python loop (2,700 crops for 32 frames of
the 640x360 clip, a third of the time); ``torchvision.ops.roi_align`` crops them all in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.nn.functional import interpolate
from torchvision.ops import batched_nms, roi_align

from moderation.config import Settings
from moderation.faces.detection import (
    Detection,
    FaceDetector,
    min_face_side,
    register_detector,
)

# The three stages' score thresholds and the pyramid's scale step: the method's published values.
THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.6
# A frame where nothing passes is searched again at twice the size with these looser thresholds:
# MTCNN misses profiles and half-hidden faces (5 of 32 frames of the 640x360 shared clip), which
# it still scores between 0.5 and 0.8. Their low scores travel with them for later weighting.
RELAXED_THRESHOLDS = (0.5, 0.6, 0.5)
RELAXED_SCORE = 0.5
# Proposals per image sent to the second stage, best first: a crowd yields thousands, and the
# second stage's cost grows with them while the faces are among the best few hundred.
MAX_PROPOSALS = 100
# In a video, the full search runs on every KEY_STRIDE-th sampled frame (see detect_video).
KEY_STRIDE = 4
# Boxes tried around a face seen in a neighbouring key frame: its square scaled and shifted
# (in units of its side); the second stage's regression then snaps them onto the face.
PROPAGATION_SCALES = (0.85, 1.15)
PROPAGATION_SHIFTS = (-0.15, 0.0, 0.15)


@register_detector("mtcnn")
class MtcnnDetector(FaceDetector):
    # MTCNN's boxes reach higher up the forehead than dlib's. Mean shift measured on 80 LFW
    # photos; with it, descriptors from MTCNN boxes stay within 0.12 of those from dlib's boxes
    # for 95% of faces (0.45 without).
    dlib_box_offsets = (0.005, 0.172, 0.132, -0.045)

    def __init__(self, settings: Settings):
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.pnet, self.rnet, self.onet = PNet().eval(), RNet().eval(), ONet().eval()
        self.max_side = settings.detection_max_side
        self.min_face_px = settings.min_face_px
        self.min_face_fraction = settings.min_face_fraction
        self.score_threshold = settings.face_score_threshold
        self.recall_fallback = settings.face_recall_fallback

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Batches images of one size together."""
        return self._run(images, video=False)

    def detect_video(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Consecutive samples of one video: the full search runs on every ``KEY_STRIDE``-th
        frame only; the frames between are searched around the faces of their key neighbours
        (the second and third stages on shifted and scaled boxes), and searched in full only
        when that finds nothing. The proposal stage is 80% of MTCNN's cost."""
        return self._run(frames, video=True)

    def _run(self, images, video: bool) -> list[list[Detection]]:
        results: list[list[Detection]] = [[] for _ in images]
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_size.setdefault(image.shape[:2], []).append(index)
        for (height, width), indices in by_size.items():
            scale = min(1.0, self.max_side / max(height, width))
            min_face = min_face_side(self.min_face_px, self.min_face_fraction, (height, width))
            if min(height, width) < min_face or min(height, width) * scale < 12:
                # No face of the smallest reportable size fits (a 32x32 frame, or 32x8192
                # shrunk to 640 px long): the cascade's 12 px window would find nothing, and
                # its pyramid would be empty.
                continue
            group = [images[i] for i in indices]
            if video and len(group) > KEY_STRIDE:
                found = self._propagated(group, scale, min_face)
            else:
                found = self._detect_batch(group, scale, min_face, THRESHOLDS,
                                           self.score_threshold)
            missed = [i for i, detections in enumerate(found) if not detections]
            if missed and self.recall_fallback:
                second = self._detect_batch([group[i] for i in missed], 2 * scale, min_face,
                                            RELAXED_THRESHOLDS,
                                            min(self.score_threshold, RELAXED_SCORE))
                for i, detections in zip(missed, second, strict=True):
                    found[i] = detections
            for index, detections in zip(indices, found, strict=True):
                results[index] = detections
        return results

    def _propagated(self, frames, scale: float, min_face: float) -> list[list[Detection]]:
        count = len(frames)
        keys = sorted(set(range(0, count, KEY_STRIDE)) | {count - 1})
        found: list[list[Detection] | None] = [None] * count
        for key, detections in zip(keys, self._detect_batch(
                [frames[k] for k in keys], scale, min_face, THRESHOLDS, self.score_threshold),
                strict=True):
            found[key] = detections
        between = [i for i in range(count) if found[i] is None]
        proposals = []
        for i in between:
            before = max(k for k in keys if k < i)
            after = min(k for k in keys if k > i)
            proposals.append(_around([d.scaled(scale) for d in found[before] + found[after]]))
        searched = [i for i, boxes in zip(between, proposals, strict=True) if len(boxes)]
        if searched:
            refined = self._detect_batch(
                [frames[i] for i in searched], scale, min_face, THRESHOLDS, self.score_threshold,
                proposals=[p for p in proposals if len(p)])
            for i, detections in zip(searched, refined, strict=True):
                found[i] = detections
        unfound = [i for i in between if not found[i]]
        if unfound:
            for i, detections in zip(unfound, self._detect_batch(
                    [frames[i] for i in unfound], scale, min_face, THRESHOLDS,
                    self.score_threshold), strict=True):
                found[i] = detections
        return found

    @torch.inference_mode()
    def _detect_batch(self, images: list[np.ndarray], scale: float, min_face: float, thresholds,
                      score_threshold, proposals: list[torch.Tensor] | None = None):
        """The cascade on a batch; ``proposals`` (boxes per image, at detection scale) replace
        the first stage."""
        batch = np.stack([_rgb_at(image, scale) for image in images])
        rgb = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
        if proposals is None:
            boxes, image_index = self._proposals(rgb, max(12.0, min_face * scale), thresholds[0])
        else:
            boxes = torch.cat(proposals)
            image_index = torch.cat([torch.full((len(p),), i) for i, p in enumerate(proposals)])
        boxes, image_index, _ = self._refine(self.rnet, rgb, boxes, image_index, 24,
                                             thresholds[1])
        boxes, image_index, points = self._refine(self.onet, rgb, boxes, image_index, 48,
                                                  thresholds[2])
        detections: list[list[Detection]] = [[] for _ in range(len(batch))]
        inverse = 1.0 / scale
        for box, index, landmarks in zip(boxes.numpy(), image_index.tolist(), points.numpy(),
                                         strict=True):
            found = Detection(box[:4].astype(np.float32), float(box[4]),
                              landmarks.astype(np.float32)).scaled(inverse)
            if found.score >= score_threshold and found.side >= min_face:
                detections[index].append(found)
        return [sorted(found, key=lambda d: -d.score) for found in detections]

    def _proposals(self, rgb: torch.Tensor, min_face: float, threshold: float):
        """Stage 1: the proposal network slides over an image pyramid."""
        from facenet_pytorch.models.utils.detect_face import generateBoundingBox, rerec

        height, width = rgb.shape[2:]
        scale = 12.0 / min_face
        boxes, image_index = [], []
        while min(height, width) * scale >= 12:
            resized = interpolate(rgb, size=(int(height * scale + 1), int(width * scale + 1)),
                                  mode="area")
            regression, probabilities = self.pnet(_normalise(resized))
            found, found_index = generateBoundingBox(regression, probabilities[:, 1], scale,
                                                     threshold)
            keep = batched_nms(found[:, :4], found[:, 4], found_index, 0.5)
            boxes.append(found[keep])
            image_index.append(found_index[keep])
            scale *= PYRAMID_FACTOR
        if not boxes:
            return torch.zeros(0, 9), torch.zeros(0, dtype=torch.long)
        boxes, image_index = torch.cat(boxes), torch.cat(image_index)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_index, 0.7)  # best first
        rank = _rank_within_image(image_index[keep])
        keep = keep[rank < MAX_PROPOSALS]
        boxes, image_index = boxes[keep], image_index[keep]
        size = boxes[:, 2:4] - boxes[:, 0:2]
        corrected = torch.cat([boxes[:, 0:2] + boxes[:, 5:7] * size,
                               boxes[:, 2:4] + boxes[:, 7:9] * size, boxes[:, 4:5]], dim=1)
        return rerec(corrected), image_index

    def _refine(self, network, rgb, boxes, image_index, side: int, threshold: float):
        """Stages 2 and 3: crop every candidate at ``side`` px in one call and rescore it."""
        from facenet_pytorch.models.utils.detect_face import bbreg, rerec

        if len(boxes) == 0:
            return boxes, image_index, torch.zeros(0, 5, 2)
        rois = torch.cat([image_index[:, None].float(), boxes[:, :4]], dim=1)
        crops = roi_align(rgb, rois, output_size=(side, side), sampling_ratio=1, aligned=False)
        outputs = network(_normalise(crops))
        regression, scores = outputs[0], outputs[-1][:, 1]
        passed = scores > threshold
        boxes = torch.cat([boxes[passed, :4], scores[passed, None]], dim=1)
        image_index, regression = image_index[passed], regression[passed]
        points = torch.zeros(len(boxes), 5, 2)
        if len(outputs) == 3:  # the output network also places five landmarks in its box
            relative = outputs[1][passed]
            size = (boxes[:, 2:4] - boxes[:, 0:2] + 1)[:, None, :]
            points = torch.stack([relative[:, :5], relative[:, 5:]], dim=2) * size
            points = points + boxes[:, None, 0:2] - 1
        boxes = bbreg(boxes, regression)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_index, 0.7)
        boxes, image_index, points = boxes[keep], image_index[keep], points[keep]
        if len(outputs) == 2:
            boxes = rerec(boxes)
        return boxes, image_index, points


def _around(detections: list[Detection]) -> torch.Tensor:
    """Candidate boxes (x1, y1, x2, y2, score) around faces, for the second stage."""
    candidates = []
    for detection in detections:
        x1, y1, x2, y2 = (float(v) for v in detection.box)
        side, centre_x, centre_y = max(x2 - x1, y2 - y1), (x1 + x2) / 2, (y1 + y2) / 2
        for factor in PROPAGATION_SCALES:
            half = side * factor / 2
            for dx in PROPAGATION_SHIFTS:
                for dy in PROPAGATION_SHIFTS:
                    cx, cy = centre_x + dx * side, centre_y + dy * side
                    candidates.append((cx - half, cy - half, cx + half, cy + half, 1.0))
    return torch.tensor(candidates, dtype=torch.float32).reshape(-1, 5)


def _rank_within_image(image_index: torch.Tensor) -> torch.Tensor:
    """For a score-sorted list, each entry's rank among the entries of its own image."""
    rank = torch.empty_like(image_index)
    for image in image_index.unique():
        members = (image_index == image).nonzero().squeeze(1)
        rank[members] = torch.arange(len(members))
    return rank


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def _rgb_at(image: np.ndarray, scale: float) -> np.ndarray:
    """The BGR image resized by ``scale`` and turned to RGB, the networks' channel order."""
    if scale != 1.0:
        height, width = image.shape[:2]
        image = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
