"""Who is this face: dlib's 128-d descriptors, a gallery of protected persons, and the
verification helpers that calibrate the distance threshold (see ``bench/identity.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from moderation.faces.landmarks import LandmarkDetector, dlib_model_path

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DIMENSIONS = 128
INNER_FILL = 128  # the grey around an inner face


class FaceDescriber:
    """Turns a face box into dlib's 128-d descriptor: two photos of one person lie closer than
    ``Settings.identity_threshold`` (Euclidean), two people farther.

    The model aligns the face from its 68 landmarks, so the box only seeds the landmark fit.
    ``num_jitters`` > 1 averages that many jittered copies: slightly more accurate, that many
    times slower.
    """

    def __init__(self, num_jitters: int = 0, landmarks: LandmarkDetector | None = None):
        import dlib

        if num_jitters < 0:
            raise ValueError(f"num_jitters must be >= 0, got {num_jitters}")
        self.num_jitters = num_jitters
        self.landmarks = landmarks or LandmarkDetector()
        self._model = dlib.face_recognition_model_v1(str(dlib_model_path(MODEL_FILE)))

    @property
    def model_id(self) -> str:
        return f"dlib-resnet-128/jitters={self.num_jitters}"

    def describe(self, image: np.ndarray, box) -> np.ndarray:
        """Descriptor of the face in ``box`` (x1, y1, x2, y2) of a BGR image: float32 (128,)."""
        return self.describe_many(image, [box])[0]

    def describe_many(self, image: np.ndarray, boxes: Sequence) -> np.ndarray:
        """Descriptors of several faces of one image in one call: float32 (len(boxes), 128)."""
        if len(boxes) == 0:
            return np.empty((0, DIMENSIONS), np.float32)
        rgb = _rgb(image)
        return self._describe(rgb, self._shapes(rgb, boxes))

    def describe_regions(self, image: np.ndarray, boxes: Sequence) -> Regions:
        """The whole-face and inner-face descriptors of several faces of one image.

        The inner face is the hull of the 68 landmarks with everything around it (hair,
        forehead, ears, background) painted grey before dlib aligns and describes it: the part
        of a face that a swap carries. The same landmarks align both, so they differ only by
        what surrounds the face."""
        if len(boxes) == 0:
            empty = np.empty((0, DIMENSIONS), np.float32)
            return Regions(empty, empty)
        rgb = _rgb(image)
        shapes = self._shapes(rgb, boxes)
        inner = np.full_like(rgb, INNER_FILL)
        for shape in shapes:
            points = np.array([(p.x, p.y) for p in shape.parts()], np.int32)
            hull = np.zeros(rgb.shape[:2], np.uint8)
            cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
            inner[hull > 0] = rgb[hull > 0]
        return Regions(self._describe(rgb, shapes), self._describe(inner, shapes))

    def _shapes(self, rgb: np.ndarray, boxes: Sequence):
        import dlib

        shapes = dlib.full_object_detections()
        for box in boxes:
            shapes.append(self.landmarks.shape(rgb, _checked_box(box)))
        return shapes

    def _describe(self, rgb: np.ndarray, shapes) -> np.ndarray:
        vectors = self._model.compute_face_descriptor(rgb, shapes, self.num_jitters)
        return np.array([np.asarray(vector) for vector in vectors], dtype=np.float32)


@dataclass(frozen=True)
class Regions:
    """Descriptors of the same faces, (n, 128) each: the whole face as dlib sees it, and the
    inner face alone (``FaceDescriber.describe_regions``)."""

    whole: np.ndarray
    inner: np.ndarray


def track_descriptor(descriptors: np.ndarray) -> np.ndarray:
    """One descriptor for a track of several faces of one person: float32 (128,)."""
    descriptors = _checked_descriptors(descriptors)
    if len(descriptors) == 0:
        raise ValueError("a track needs at least one descriptor")
    # The element-wise median rather than the mean: a few bad frames of a track (motion blur, a
    # profile, a box that drifted onto a neighbour) barely move it, where they drag the mean;
    # with one or two faces it is the mean.
    return np.median(descriptors, axis=0).astype(np.float32)


@dataclass(frozen=True)
class Match:
    """The enrolled person nearest to a face, and how near (Euclidean distance); for a track,
    the distance of the second-nearest person and the share of its faces that agree."""

    person_id: str
    distance: float
    runner_up: float | None = None
    agreement: float | None = None
    # False for a resemblance: under the candidate threshold only. A block names a person, so
    # it needs a certain match; a resemblance is for a reviewer to judge.
    certain: bool = True
    # "inner" when the inner faces named the person (``distance`` is theirs), "whole" when
    # whole faces did (people enrolled before inner faces were described).
    region: str = "whole"
    # For an inner-face match: the whole faces' distance to the same person, and whether the
    # face around the inner face agrees with that person too (``TrackRule.context_margin``):
    # the person's own face and head, not their inner face on another head. None: not judged.
    whole_distance: float | None = None
    context_agrees: bool | None = None


@dataclass(frozen=True)
class TrackRule:
    """When a track of video faces is an enrolled person (see ``Gallery.match_track``).

    Calibrated on faces from video (``bench/identity_video.py``): compression, pose and motion
    blur move a track's descriptor around, so a distance that is barely under the threshold, or
    barely nearer than another person, is no identification.
    """

    # The defaults were chosen on the people of ``train/real-clips`` against a gallery of 100
    # (none of those strangers named; 94% of the enrolled people's unseen tracks named). At the
    # photo threshold of 0.6, 65% of stranger tracks matched someone of 100.
    threshold: float = 0.35
    runner_up_margin: float = 0.1  # the second-nearest person at least this much farther
    agreement: float = 0.5  # share of the described faces whose nearest person is the match
    # Under this (the photo-pair threshold) and not under ``threshold``: a resemblance. 71% of
    # synthetic LFW swaps lie under it from the swapped-in person, 2% under ``threshold``
    # (bench/identity_swaps.py): dlib's descriptors cannot name most swaps for certain.
    candidate_threshold: float = 0.6
    # The same for inner faces (``FaceDescriber.describe_regions``), which name the person a
    # swap carries far more often than whole faces do: the whole face mixes in the head the
    # swap was pasted on (bench/identity_swaps.py). On video (bench/identity_video.py) 0.40
    # names 97% of enrolled people's unseen tracks and no stranger whose whole face disagrees
    # (a block); 0.45 names 2 of 366 such strangers. Chosen with all the clips in view.
    inner_threshold: float = 0.40
    inner_candidate_threshold: float = 0.6
    # Inner faces of different people lie closer together than whole faces do, so the
    # runner-up needs its own, smaller margin.
    inner_runner_up_margin: float = 0.05
    # The whole face at most this much farther from the person than the inner face: the face
    # around the inner face is theirs too (their own video); farther, another person's head.
    # At 0.08, 1% of LFW people's own photos lie farther, and none of 195 own video tracks.
    context_margin: float = 0.08

    @classmethod
    def from_settings(cls, settings) -> TrackRule:
        return cls(settings.identity_threshold, settings.identity_runner_up_margin,
                   settings.identity_agreement, settings.identity_candidate_threshold,
                   settings.identity_inner_threshold, settings.identity_inner_candidate_threshold,
                   settings.identity_inner_runner_up_margin, settings.identity_context_margin)


class Gallery:
    """Descriptors of protected persons; ``match`` says which of them a face is, if any.

    Rows are kept flat, ``descriptors`` (n, 128) beside ``person_ids`` (n,), so persisting is
    saving two arrays, and loading is ``add`` row by row. ``inner`` (n, 128) holds the rows'
    inner-face descriptors, NaN where a row has none (enrolled before they were described).
    """

    def __init__(self, threshold: float | None = None, rule: TrackRule | None = None):
        if threshold is None:
            threshold = (rule or TrackRule()).threshold
        self.threshold = threshold
        if not self.threshold > 0:
            raise ValueError(f"the threshold must be positive, got {self.threshold}")
        self.rule = rule or TrackRule(threshold=self.threshold)
        self.descriptors = np.empty((0, DIMENSIONS), np.float32)
        self.inner = np.empty((0, DIMENSIONS), np.float32)
        self.person_ids = np.empty(0, dtype=object)

    def __len__(self) -> int:
        """Number of enrolled persons."""
        return len(set(self.person_ids))

    def add(self, person_id: str, descriptors: np.ndarray, inner: np.ndarray | None = None
            ) -> None:
        """Enrol (n, 128) descriptors of one person, and the same faces' inner-face
        descriptors if known (rows of NaN for unknown); several photos make matching more
        robust."""
        descriptors = _checked_descriptors(descriptors)
        if len(descriptors) == 0:
            raise ValueError(f"no descriptors to enrol for {person_id!r}")
        if inner is None:
            inner = np.full_like(descriptors, np.nan)
        inner = np.asarray(inner, np.float32)
        if inner.shape != descriptors.shape:
            raise ValueError(f"inner-face descriptors {inner.shape} do not pair with the "
                             f"descriptors {descriptors.shape} of {person_id!r}")
        self.descriptors = np.concatenate([self.descriptors, descriptors])
        self.inner = np.concatenate([self.inner, inner])
        self.person_ids = np.concatenate(
            [self.person_ids, np.full(len(descriptors), person_id, dtype=object)]
        )

    def match(self, descriptor: np.ndarray) -> Match | None:
        """The person with the nearest enrolled descriptor, if nearer than the threshold."""
        descriptor = np.asarray(descriptor, np.float32)
        if descriptor.shape != (DIMENSIONS,):
            raise ValueError(f"a descriptor has shape ({DIMENSIONS},), got {descriptor.shape}")
        if len(self.descriptors) == 0:
            return None
        distances = np.linalg.norm(self.descriptors - descriptor, axis=1)
        best = int(np.argmin(distances))
        if distances[best] >= self.threshold:
            return None
        return Match(str(self.person_ids[best]), float(distances[best]))

    def match_track(self, faces: np.ndarray, rule: TrackRule | None = None,
                    inner: np.ndarray | None = None) -> Match | None:
        """The person a track of (n, 128) face descriptors is, by ``rule`` (the gallery's by
        default); None for nobody.

        The track's descriptor (element-wise median) must lie under the threshold from the
        person, the next person must be ``runner_up_margin`` farther, and at least
        ``agreement`` of the faces on their own must have that person nearest, under the
        threshold. The same under ``candidate_threshold`` instead is a resemblance
        (``certain=False``).

        Given the faces' ``inner`` descriptors, people enrolled with inner faces are matched
        by them (``inner_threshold``, ``inner_candidate_threshold``), and the whole faces say
        whether the face's context agrees with the person (``Match.context_agrees``); people
        enrolled without them are matched by whole faces as before."""
        rule = rule or self.rule
        faces = _checked_descriptors(faces)
        if len(faces) == 0 or len(self.descriptors) == 0:
            return None
        known = ~np.isnan(self.inner).any(axis=1)
        if inner is not None and known.any():
            inner = _checked_descriptors(inner)
            if inner.shape != faces.shape:
                raise ValueError(f"inner-face descriptors {inner.shape} do not pair with the "
                                 f"faces {faces.shape}")
            match = self._match_by(self.inner[known], self.person_ids[known], inner,
                                   rule.agreement, rule.inner_runner_up_margin,
                                   rule.inner_threshold, rule.inner_candidate_threshold)
            if match is not None:
                whole = self._ranked(track_descriptor(faces), self.descriptors[known],
                                     self.person_ids[known])
                whole_distance = dict(whole)[match.person_id]
                return replace(match, region="inner", whole_distance=whole_distance,
                               context_agrees=whole_distance - match.distance
                               <= rule.context_margin)
            # The rest, people enrolled before inner faces were described, by whole faces.
            legacy = ~np.isin(self.person_ids, self.person_ids[known])
            if not legacy.any():
                return None
            return self._match_by(self.descriptors[legacy], self.person_ids[legacy], faces,
                                  rule.agreement, rule.runner_up_margin, rule.threshold,
                                  rule.candidate_threshold)
        return self._match_by(self.descriptors, self.person_ids, faces, rule.agreement,
                              rule.runner_up_margin, rule.threshold, rule.candidate_threshold)

    def _match_by(self, rows: np.ndarray, person_ids: np.ndarray, faces: np.ndarray,
                  agreement: float, runner_up_margin: float, threshold: float,
                  candidate_threshold: float) -> Match | None:
        ranked = self._ranked(track_descriptor(faces), rows, person_ids)
        person, distance = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else np.inf
        if runner_up - distance < runner_up_margin:
            return None
        nearest = [self._ranked(face, rows, person_ids)[0] for face in faces]
        for certain, cut in ((True, threshold), (False, candidate_threshold)):
            agreeing = sum(name == person and d < cut for name, d in nearest) / len(faces)
            if distance < cut and agreeing >= agreement:
                return Match(person, distance, float(runner_up), agreeing, certain)
        return None

    @staticmethod
    def _ranked(descriptor: np.ndarray, rows: np.ndarray, person_ids: np.ndarray
                ) -> list[tuple[str, float]]:
        """(person, distance of their nearest row), nearest person first."""
        distances = np.linalg.norm(rows - descriptor, axis=1)
        nearest: dict[str, float] = {}
        for person, distance in zip(person_ids, distances, strict=True):
            if distance < nearest.get(person, np.inf):
                nearest[person] = float(distance)
        return sorted(nearest.items(), key=lambda item: item[1])


# Verification: is a pair of faces one person? The helpers choose and check the threshold.


def pair_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``first`` to the same row of ``second``."""
    return np.linalg.norm(np.asarray(first, np.float64) - np.asarray(second, np.float64), axis=1)


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs called right when "same person" means a distance below ``threshold``."""
    return float(np.mean((np.asarray(distances) < threshold) == np.asarray(same, bool)))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy on these pairs: the midpoint of the first gap
    between sorted distances where the accuracy peaks."""
    order = np.argsort(distances, kind="stable")
    ordered = np.asarray(distances, np.float64)[order]
    same = np.asarray(same, bool)[order]
    if len(ordered) == 0:
        raise ValueError("no pairs to choose a threshold from")
    # Cutting before position k calls the first k pairs "same": right on the same pairs among
    # them and on the different pairs after them.
    right = np.concatenate([[0], np.cumsum(same)]) + np.concatenate(
        [np.cumsum((~same)[::-1])[::-1], [0]]
    )
    cuts = np.flatnonzero(np.concatenate([[True], ordered[1:] > ordered[:-1], [True]]))
    k = int(cuts[np.argmax(right[cuts])])
    if k == 0:
        return float(ordered[0])
    if k == len(ordered):
        return float(np.nextafter(ordered[-1], np.inf))
    return float((ordered[k - 1] + ordered[k]) / 2)


@dataclass(frozen=True)
class CrossValidation:
    """Per fold: the threshold chosen on the other folds and the accuracy it gets on this one."""

    thresholds: np.ndarray
    accuracies: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))


def cross_validate(distances: np.ndarray, same: np.ndarray, folds: int = 10) -> CrossValidation:
    """Accuracy of the threshold rule on pairs it was not tuned on, as in LFW's protocol.

    Pair i is in fold ``i % folds``: deterministic, and pairs listed by label still spread
    evenly over the folds.
    """
    distances, same = np.asarray(distances, np.float64), np.asarray(same, bool)
    if not 2 <= folds <= len(distances):
        raise ValueError(f"folds must be between 2 and the {len(distances)} pairs, got {folds}")
    fold = np.arange(len(distances)) % folds
    thresholds, accuracies = [], []
    for index in range(folds):
        test = fold == index
        threshold = best_threshold(distances[~test], same[~test])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(distances[test], same[test], threshold))
    return CrossValidation(np.array(thresholds), np.array(accuracies))


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 BGR or grey image, got {image.dtype} {image.shape}")
    code = cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB
    return np.ascontiguousarray(cv2.cvtColor(image, code))


def _checked_box(box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"a box is (x1, y1, x2, y2) with x2 > x1 and y2 > y1, got {box}")
    return x1, y1, x2, y2


def _checked_descriptors(descriptors: np.ndarray) -> np.ndarray:
    descriptors = np.asarray(descriptors, np.float32)
    if descriptors.ndim != 2 or descriptors.shape[1] != DIMENSIONS:
        raise ValueError(f"expected (n, {DIMENSIONS}) descriptors, got {descriptors.shape}")
    return descriptors
