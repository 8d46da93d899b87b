"""Describing enrolment sources: a protected person's photos and videos become face
descriptors (``records.Described``), which ``db.persons`` stores; and the gallery those
descriptors form, built from the rows the database gives back. No SQL here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from moderation.errors import NoFaceFound
from moderation.faces.identity import Gallery, TrackRule, track_descriptor
from moderation.faces.scan import FaceScanner
from moderation.images import IMAGE_SUFFIXES, read_image
from moderation.records import Described

REFERENCE_SIDE = 128


def file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def describe_sources(scanner: FaceScanner, sources: list[Path],
                     progress: bool = False) -> list[Described]:
    """One descriptor per photo (its largest face) or per video (its longest track), whole
    and inner face, with the file's digest and a thumbnail of the face. ``progress``: a bar
    over several sources on stderr (seconds a video), which the CLI asks for and the worker,
    whose stderr is its log, does not."""
    from tqdm import tqdm

    described = []
    bar = progress and len(sources) > 1
    for source in tqdm(sources, desc="describe", unit="source", disable=not bar):
        if Path(source).suffix.lower() in IMAGE_SUFFIXES:
            image = read_image(source)
            found = scanner.detector.detect([image])[0]
            if not found:
                raise NoFaceFound(str(source), "no face to enrol")
            face = max(found, key=lambda d: d.side)
            regions = scanner.describer.describe_regions(image, [scanner.detector.dlib_box(face)])
            vector, inner = regions.whole[0], regions.inner[0]
            thumbnail = reference_thumbnail(image, face.box)
        else:
            result = scanner.scan(source, keep_crops=False)
            if not result.tracks:
                raise NoFaceFound(str(source), "no face to enrol")
            longest = max(result.tracks, key=lambda t: (len(t.faces), t.median_side))
            vector = scanner.describe_tracks(result)[longest.id]
            inner = track_descriptor(result.inner_descriptors[longest.id])
            faces = result.track_faces(longest.id)
            face = max(faces, key=lambda f: f.detection.side)
            thumbnail = reference_thumbnail(result.frames[face.frame].image, face.detection.box)
        described.append(Described(str(source), vector, file_digest(Path(source)), thumbnail,
                                   inner))
    return described


def reference_thumbnail(image: np.ndarray, box) -> bytes | None:
    """The face with a margin, at most ``REFERENCE_SIDE`` pixels a side, as a JPEG."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1) * 1.5
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    right, bottom = int(min(cx + side / 2, width)), int(min(cy + side / 2, height))
    patch = image[top:bottom, left:right]
    if patch.size == 0:
        return None
    scale = min(1.0, REFERENCE_SIDE / max(patch.shape[:2]))
    patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes() if ok else None


def build_gallery(enrolled: Iterable[tuple[str, Sequence[Sequence[float]],
                                           Sequence[Sequence[float] | None]]],
                  rule: TrackRule) -> Gallery:
    """The gallery of ``(person id, whole descriptors, inner descriptors or None)`` rows
    (``db.persons.enrolled_descriptors``), matching by ``rule``."""
    gallery = Gallery(rule=rule)
    for person_id, vectors, inners in enrolled:
        if vectors:
            gallery.add(person_id, np.array(vectors, np.float32),
                        np.array([inner or [np.nan] * len(vector)
                                  for vector, inner in zip(vectors, inners, strict=True)],
                                 np.float32))
    return gallery
