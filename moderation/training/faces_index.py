"""The index of real training faces: for each image, dlib's 68 landmarks (for the generator's
masks), the face box of the worker's detector (so that training crops as the worker crops), the
person (to split by identity) and the source it came from (to weight and report per source).

Three kinds of source go in:

- ``photos``: a folder of face photos, one sub-folder per person (LFW);
- ``videos``: real clips; frames are sampled across each clip, the largest face is found by the
  worker's detector, and a square region around it (about twice the face) is saved as a 256 px
  lossless image under the index's frame folder, so that every indexed image is a square of
  about the generator's working size and no source differs from another by resolution alone.
  The person is the clip's (``MEAD_M003_...`` clips of one actor share it);
- ``crops``: tight face crops (the face fills the image, as DFDC's); when the detector finds no
  face in one, the whole crop is taken as the face box (what the crop is).

Measured once and saved as one ``.npz``; the training sets read only the index and the images,
so training runs where neither dlib nor the detector is installed.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from moderation.config import Settings
from moderation.errors import ConfigError, InputError, ModerationError
from moderation.faces.crops import CROP_PAD, locate_face
from moderation.images import read_image
from moderation.synth.bank import list_images
from moderation.training.evaluate import VIDEO_SUFFIXES

BATCH = 64
REGION_SIDE = 256  # saved video regions: the generator's working size
REGION_SCALE = 2.0  # region side over face box side: room for margins up to 0.5
SOURCE_KINDS = ("photos", "videos", "crops")


@dataclass
class FaceIndex:
    roots: dict[str, Path]  # source -> the folder its keys are relative to
    keys: np.ndarray        # (n,) relative paths
    people: np.ndarray      # (n,) person names, unique across sources
    sources: np.ndarray     # (n,) source names
    landmarks: np.ndarray   # (n, 68, 2) float32, image pixels
    boxes: np.ndarray       # (n, 4) float32, the detector's box in image pixels

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, row: int) -> Path:
        return self.roots[str(self.sources[row])] / str(self.keys[row])

    def split(self, validation_share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training and validation images, split by person: nobody is in both.
        A stable hash of the name decides, so the split never depends on the subset."""
        buckets = np.array([zlib.crc32(person.encode()) % 1000 for person in self.people])
        validation = buckets < validation_share * 1000
        return np.flatnonzero(~validation), np.flatnonzero(validation)

    def sampling_weights(self, members: np.ndarray,
                         source_weights: dict[str, float] | None) -> np.ndarray:
        """Probabilities over ``members`` that give each source its weight (equal by default),
        spread evenly over the source's images."""
        sources = self.sources[members]
        names = sorted(set(sources.tolist()))
        wanted = source_weights or {name: 1.0 for name in names}
        unknown = set(wanted) - set(self.sources.tolist())
        if unknown:
            raise ConfigError(f"source weights name {sorted(unknown)}: the index holds "
                              f"{sorted(set(self.sources.tolist()))}")
        weights = np.zeros(len(members))
        for name in names:
            chosen = sources == name
            weights[chosen] = wanted.get(name, 0.0) / chosen.sum()
        if weights.sum() <= 0:
            raise ConfigError("source weights leave no image to train on")
        return weights / weights.sum()

    def counts(self) -> dict[str, dict[str, int]]:
        """Images and people per source: what a checkpoint records of its real class."""
        return {str(name): {"images": int((self.sources == name).sum()),
                            "people": len(set(self.people[self.sources == name].tolist()))}
                for name in sorted(set(self.sources.tolist()))}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, keys=self.keys, people=self.people, sources=self.sources,
                            landmarks=self.landmarks, boxes=self.boxes,
                            roots=np.array(json.dumps({k: str(v) for k, v in
                                                       self.roots.items()})))

    @classmethod
    def load(cls, path: Path, root: Path | None = None) -> FaceIndex:
        """``root`` is needed only for an index of one photo folder made before sources (its
        keys are relative to that folder)."""
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no face index; build it with `moderation train "
                              "--prepare`")
        with np.load(path, allow_pickle=False) as data:
            if "sources" in data:
                roots = {k: Path(v) for k, v in json.loads(str(data["roots"])).items()}
                sources = data["sources"]
            else:
                if root is None:
                    raise ConfigError(f"{path}: an index of one photo folder; pass --real")
                roots, sources = {"photos": Path(root)}, np.full(len(data["keys"]), "photos")
            return cls(roots, data["keys"], data["people"], sources, data["landmarks"],
                       data["boxes"])

    @classmethod
    def concatenate(cls, parts: list[FaceIndex]) -> FaceIndex:
        roots: dict[str, Path] = {}
        for part in parts:
            for name, root in part.roots.items():
                if roots.setdefault(name, root) != root:
                    raise ConfigError(f"source {name!r} is given twice, as {roots[name]} and "
                                      f"{root}")
        return cls(roots, *(np.concatenate([getattr(p, field) for p in parts])
                            for field in ("keys", "people", "sources", "landmarks", "boxes")))


@dataclass(frozen=True)
class SourceSpec:
    """One source of real faces: ``kind`` (photos, videos, crops), a name and its folder."""

    kind: str
    name: str
    folder: Path

    @classmethod
    def parse(cls, kind: str, text: str) -> SourceSpec:
        """``NAME=FOLDER`` or ``FOLDER`` (named after the folder)."""
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"source kind {kind!r}: expected one of {SOURCE_KINDS}")
        name, _, folder = text.rpartition("=")
        folder_path = Path(folder).expanduser()
        if not folder_path.is_dir():
            raise ConfigError(f"{folder}: no such folder (a source of {kind})")
        return cls(kind, name or folder_path.name, folder_path)


class _Measurer:
    """The detector and dlib's landmarks, loaded once for all sources."""

    def __init__(self, settings: Settings):
        from moderation.faces.detection import build_detector
        from moderation.faces.landmarks import LandmarkDetector

        self.settings = settings
        self.landmarks = LandmarkDetector(settings.landmark_upsample)
        self.detector = build_detector(settings)

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        from moderation.faces.detection import Detection

        return self.landmarks.fit(image, self.detector.dlib_box(Detection(box, 1.0)))


def build_index(root: Path, settings: Settings, limit: int | None = None,
                seed: int = 0, name: str = "photos") -> FaceIndex:
    """A photo folder (one sub-folder per person): landmarks and boxes of ``limit`` photos drawn
    at random (all when None); photos where either finds no face are left out."""
    return _index_photos(SourceSpec("photos", name, Path(root)), _Measurer(settings), limit, seed)


def build_sources(specs: list[SourceSpec], settings: Settings, frames_dir: Path,
                  limit: int | None = None, frames_per_clip: int = 48,
                  seed: int = 0) -> FaceIndex:
    """One index over several sources; ``limit`` caps each photo or crop source."""
    if not specs:
        raise ConfigError("no source of real faces given")
    measurer = _Measurer(settings)
    parts = []
    for spec in specs:
        if spec.kind == "photos":
            parts.append(_index_photos(spec, measurer, limit, seed))
        elif spec.kind == "crops":
            parts.append(_index_crops(spec, measurer, limit, seed))
        else:
            parts.append(_index_videos(spec, measurer, Path(frames_dir) / spec.name,
                                       frames_per_clip))
    return FaceIndex.concatenate(parts)


def _drawn(spec: SourceSpec, limit: int | None, seed: int) -> list[str]:
    """``limit`` images of the source's folder drawn at random (all when None)."""
    keys = list_images(spec.folder)
    if not keys:
        raise ConfigError(f"{spec.folder}: contains no images")
    order = np.random.default_rng(seed).permutation(len(keys))
    return [keys[i] for i in (order[:limit] if limit else order)]


def _index_photos(spec: SourceSpec, measurer: _Measurer, limit: int | None,
                  seed: int) -> FaceIndex:
    chosen = _drawn(spec, limit, seed)
    rows: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    progress = tqdm(total=len(chosen), desc=f"index {spec.name}", unit="photo")
    for start in range(0, len(chosen), BATCH):
        measured = []
        for key in chosen[start:start + BATCH]:
            try:
                image = read_image(spec.folder / key, measurer.settings.min_image_px)
                measured.append((key, image, measurer.landmarks(image, key)))
            except InputError:
                continue
        # Photos of one size (all of LFW) go through the detector as one batch.
        found_all = measurer.detector.detect([image for _, image, _ in measured])
        for (key, _, points), found in zip(measured, found_all, strict=True):
            centre = points.mean(axis=0)
            inside = [d for d in found if d.box[0] < centre[0] < d.box[2]
                      and d.box[1] < centre[1] < d.box[3]]
            if inside:
                person = key.rsplit("/", 1)[0] if "/" in key else key
                rows.append((key, person, points, inside[0].box))
        progress.update(len(chosen[start:start + BATCH]))
    progress.close()
    return _from_rows(spec, rows)


def _index_crops(spec: SourceSpec, measurer: _Measurer, limit: int | None,
                 seed: int) -> FaceIndex:
    """Tight crops: the detector's box where it finds the face, else the whole crop."""
    chosen = _drawn(spec, limit, seed)
    rows = []
    for key in tqdm(chosen, desc=f"index {spec.name}", unit="crop"):
        try:
            image = read_image(spec.folder / key, measurer.settings.min_image_px)
        except InputError:
            continue
        found = locate_face(image, measurer.detector)
        height, width = image.shape[:2]
        box = found.box if found is not None else np.float32([0, 0, width, height])
        # dlib fits inside the padded crop too: its landmarks may leave the crop's edges.
        pad = int(CROP_PAD * max(height, width))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        points = measurer.fit(padded, box + pad) - pad
        # One crop per video: the file is the identity (DFDC's actors recur, unnamed).
        rows.append((key, Path(key).stem, points.astype(np.float32), box.astype(np.float32)))
    return _from_rows(spec, rows)


def clip_person(stem: str) -> str:
    """The person of a clip: MEAD's actor id where the name has one, else the clip itself."""
    actor = re.search(r"MEAD_([MW]\d{3})", stem)
    return f"MEAD_{actor.group(1)}" if actor else stem


def _index_videos(spec: SourceSpec, measurer: _Measurer, frames_dir: Path,
                  frames_per_clip: int) -> FaceIndex:
    from moderation.video.reader import VideoLimits, probe, read_frames, sample_times

    clips = sorted(p for p in spec.folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise ConfigError(f"{spec.folder}: contains no videos")
    limits = VideoLimits.from_settings(measurer.settings)
    frames_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in tqdm(clips, desc=f"index {spec.name}", unit="clip"):
        try:
            info = probe(clip, limits)
            frames = read_frames(info, sample_times(info, frames_per_clip), limits)
        except ModerationError as exc:
            tqdm.write(f"skipped {clip.name}: {exc}")
            continue
        found_all = measurer.detector.detect_video([frame.image for frame in frames])
        for number, (frame, found) in enumerate(zip(frames, found_all, strict=True)):
            if not found:
                continue
            largest = max(found, key=lambda d: d.side)
            region, box, matrix = _face_region(frame.image, largest.box)
            points = measurer.fit(frame.image, largest.box)
            points = points @ matrix[:, :2].T + matrix[:, 2]
            key = f"{clip.stem}/{number:04d}.png"
            (frames_dir / clip.stem).mkdir(exist_ok=True)
            cv2.imwrite(str(frames_dir / key), region)
            rows.append((key, clip_person(clip.stem), points.astype(np.float32), box))
    return _from_rows(SourceSpec(spec.kind, spec.name, frames_dir), rows)


def _face_region(image: np.ndarray, box: np.ndarray):
    """A ``REGION_SIDE`` square around the face, kept inside the frame (moved rather than
    padded; a frame smaller than the square gives its shorter side), with the box and the
    frame-to-region affine."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = int(round(min(max(x2 - x1, y2 - y1) * REGION_SCALE, width, height)))
    left = int(np.clip(round((x1 + x2) / 2 - side / 2), 0, width - side))
    top = int(np.clip(round((y1 + y2) / 2 - side / 2), 0, height - side))
    scale = REGION_SIDE / side
    matrix = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float32)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    region = cv2.resize(image[top:top + side, left:left + side], (REGION_SIDE, REGION_SIDE),
                        interpolation=interpolation)
    new_box = np.float32([x1, y1, x2, y2]).reshape(2, 2) @ matrix[:, :2].T + matrix[:, 2]
    return region, new_box.reshape(4).astype(np.float32), matrix


def _from_rows(spec: SourceSpec, rows: list) -> FaceIndex:
    if not rows:
        raise ConfigError(f"{spec.folder}: no face found in any image of source {spec.name!r}")
    keys, people, landmarks, boxes = zip(*rows, strict=True)
    return FaceIndex({spec.name: spec.folder}, np.array(keys),
                     np.array([f"{spec.name}/{p}" for p in people]),
                     np.full(len(keys), spec.name),
                     np.array(landmarks, np.float32).reshape(-1, 68, 2),
                     np.array(boxes, np.float32).reshape(-1, 4))
