"""Identity on video faces: verification and the false-match rate of strangers against a gallery
of 100 enrolled people, for the old match rule (nearest descriptor under 0.6, calibrated on LFW
photos) and the track rule (``Gallery.match_track``: faces that agree, a margin under the
threshold and over the second-best person).

Faces come from the shared clips as the worker finds them (MTCNN, the main track of 48 sampled
frames, dlib's descriptor of every face); a clip's person is the clip (MEAD actors across clips).
Tracks are windows of consecutive faces, as the worker describes a track. The gallery holds
LFW people (enrolled from photos) and the people of ``train/real-clips`` (enrolled from the
first half of their clip; the second half probes them). Strangers are the people of
``dev/real-clips`` and the real clips of ``videos/`` who are not enrolled.

    .venv/bin/python bench/identity_video.py [--cache FILE.npz] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLIP_FOLDERS = {"train": DATA / "train" / "real-clips", "dev": DATA / "dev" / "real-clips",
                "videos": DATA / "videos"}
LFW = DATA / "faces" / "lfw"
console = Console(width=150)


def collect(frames: int) -> dict:
    """Descriptors of the main track's faces of every real clip: arrays ready to save."""
    from moderation.config import Settings
    from moderation.errors import ModerationError
    from moderation.faces.scan import FaceScanner
    from moderation.training.faces_index import clip_person

    scanner = FaceScanner(Settings())
    clips = [(split, path) for split, folder in CLIP_FOLDERS.items()
             for path in sorted(folder.iterdir())
             if path.suffix == ".mp4" and (split != "videos" or path.name.startswith("real_"))]
    rows: dict[str, list] = {"split": [], "clip": [], "person": [], "time": [], "descriptor": [],
                             "inner": []}
    for split, path in tqdm(clips, desc="clips", unit="clip"):
        try:
            result = scanner.scan(path, count=frames, keep_crops=False)
        except ModerationError as exc:
            tqdm.write(f"skipped {path.name}: {exc}")
            continue
        if not result.tracks:
            continue
        main = max(result.tracks, key=lambda track: (len(track.faces), track.median_side))
        for face in sorted(main.faces, key=lambda f: f.time):
            image = result.frames[face.frame].image
            box = scanner.detector.dlib_box(face.detection)
            regions = scanner.describer.describe_regions(image, [box])
            rows["descriptor"].append(regions.whole[0])
            rows["inner"].append(regions.inner[0])
            rows["split"].append(split)
            rows["clip"].append(path.stem)
            rows["person"].append(clip_person(path.stem))
            rows["time"].append(face.time)
    return {key: np.array(value) for key, value in rows.items()}


def lfw_photos(count: int, photos_each: int, seed: int) -> dict:
    """Descriptors of ``photos_each`` photos of ``count`` LFW people with that many or more."""
    sys.path.insert(0, str(REPO / "bench"))
    from identity import _start_worker, describe_photo_regions, people

    rng = np.random.default_rng(seed)
    several = {name: paths for name, paths in people(LFW).items() if len(paths) >= photos_each}
    chosen = sorted(rng.choice(sorted(several), count, replace=False))
    _start_worker(0, 0)
    rows: dict[str, list] = {"person": [], "descriptor": [], "inner": []}
    for name in tqdm(chosen, desc="LFW people", unit="person"):
        for path in several[name][:photos_each]:
            regions = describe_photo_regions(path)
            rows["person"].append(f"lfw:{name}")
            rows["descriptor"].append(regions.whole[0])
            rows["inner"].append(regions.inner[0])
    return {key: np.array(value) for key, value in rows.items()}


def load_or_collect(cache: Path, frames: int, lfw_people: int, seed: int) -> tuple[dict, dict]:
    if cache.exists():
        saved = np.load(cache, allow_pickle=False)
        clips = {k[5:]: saved[k] for k in saved.files if k.startswith("clip_")}
        photos = {k[4:]: saved[k] for k in saved.files if k.startswith("lfw_")}
        return clips, photos
    clips, photos = collect(frames), lfw_photos(lfw_people, 3, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"clip_{k}": v for k, v in clips.items()},
             **{f"lfw_{k}": v for k, v in photos.items()})
    return clips, photos


WINDOW = 6  # faces a track is described by (the worker describes up to this many)
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
INNER_THRESHOLDS = (0.35, 0.4, 0.42, 0.45, 0.48, 0.5)


def windows(clips: dict, size: int = WINDOW, stride: int = WINDOW // 2) -> list[dict]:
    """Each clip's faces cut into tracks of ``size`` consecutive faces, every ``stride`` faces
    (overlapping tracks are not independent: the counts say how many, not how many clips);
    ``half`` says whether a track lies in the first or second half of its clip's faces."""
    out = []
    for clip in sorted(set(clips["clip"])):
        rows = np.flatnonzero(clips["clip"] == clip)
        middle = len(rows) // 2
        for begin in range(0, len(rows) - size + 1, stride):
            chosen = rows[begin:begin + size]
            if begin < middle < begin + size:
                continue  # straddles the halves: enrolment material and probe at once
            out.append({"clip": clip, "split": str(clips["split"][chosen[0]]),
                        "person": str(clips["person"][chosen[0]]),
                        "half": int(begin >= middle), "faces": clips["descriptor"][chosen],
                        "inner": clips["inner"][chosen]})
    return out


def build_gallery(clips: dict, photos: dict, enrolled_clip_people: list[str], total: int,
                  inner: bool = False):
    """Clip people enrolled from the first half of their clips (one descriptor a clip, as
    ``persons enroll VIDEO`` stores), LFW people from their photos, ``total`` people in all;
    with their inner faces when ``inner``."""
    from moderation.faces.identity import Gallery, track_descriptor

    gallery = Gallery(threshold=0.6)
    for person in enrolled_clip_people:
        for clip in sorted(set(clips["clip"][clips["person"] == person])):
            rows = np.flatnonzero(clips["clip"] == clip)
            rows = rows[: len(rows) // 2]
            gallery.add(person, track_descriptor(clips["descriptor"][rows])[None],
                        track_descriptor(clips["inner"][rows])[None] if inner else None)
    lfw_people = sorted(set(photos["person"]))[: total - len(enrolled_clip_people)]
    for person in lfw_people:
        rows = photos["person"] == person
        gallery.add(person, photos["descriptor"][rows], photos["inner"][rows] if inner else None)
    return gallery


def judge(gallery, probes: list[dict], enrolled: set[str], rule) -> dict:
    """Per probe kind (genuine: an enrolled person's other half or clip; stranger: not
    enrolled): named right, named wrong, no match, and (track rule) resemblances, which never
    name anyone; ``rule`` None is the old nearest-under-0.6 rule on the median of three faces."""
    from moderation.faces.identity import track_descriptor

    counts = {"genuine": {"right": 0, "wrong": 0, "none": 0},
              "stranger": {"matched": 0, "none": 0}, "resembles": 0, "context_disagrees": 0,
              "stranger_blockable": 0}
    for probe in probes:
        if rule is None:
            match = gallery.match(track_descriptor(probe["faces"][:3]))
        else:
            match = gallery.match_track(probe["faces"], rule, inner=probe["inner"])
            if match is not None and match.certain and match.context_agrees is False and (
                    match.person_id == probe["person"]):
                # The person's own video, which the policy would block if the detector fired.
                counts["context_disagrees"] += 1
            if (match is not None and match.certain and match.context_agrees is not True
                    and probe["person"] not in enrolled):
                # A stranger the policy would block naming someone if the detector fired.
                counts["stranger_blockable"] += 1
            if match is not None and not match.certain:
                counts["resembles"] += 1
                match = None
        if probe["person"] in enrolled:
            key = "none" if match is None else (
                "right" if match.person_id == probe["person"] else "wrong")
            counts["genuine"][key] += 1
        else:
            counts["stranger"]["none" if match is None else "matched"] += 1
    return counts


def probes_of(tracks: list[dict], enrolled: set[str], splits: set[str]) -> list[dict]:
    """Tracks that were not enrolment material: second halves of enrolled people's clips,
    every track of anyone else."""
    return [t for t in tracks if t["split"] in splits
            and (t["person"] not in enrolled or t["half"] == 1)]


def calibrate(clips: dict, photos: dict, tracks: list[dict], total: int):
    """The strictest-needed rule chosen on ``train`` alone: half of its people enrolled (with
    LFW people to ``total``), the other half strangers. Lowest stranger matches first, then most
    genuine named right."""
    from moderation.faces.identity import TrackRule

    people = sorted({t["person"] for t in tracks if t["split"] == "train"})
    enrolled = people[::2]
    gallery = build_gallery(clips, photos, enrolled, total)
    probes = probes_of(tracks, set(enrolled), {"train"})
    best = None
    for threshold in THRESHOLDS:
        for runner_up in (0.0, 0.05, 0.1):
            for agreement in (0.5, 0.67):
                rule = TrackRule(threshold, runner_up, agreement, candidate_threshold=0.6)
                counts = judge(gallery, probes, set(enrolled), rule)
                key = (counts["stranger"]["matched"], counts["genuine"]["wrong"],
                       -counts["genuine"]["right"], -threshold, -runner_up, -agreement)
                if best is None or key < best[0]:
                    best = (key, rule, counts)
    return best[1], best[2]


def calibrate_inner(clips: dict, photos: dict, tracks: list[dict], total: int, base):
    """The same choice for the inner-face rule (``base`` with its inner fields varied)."""
    people = sorted({t["person"] for t in tracks if t["split"] == "train"})
    enrolled = people[::2]
    gallery = build_gallery(clips, photos, enrolled, total, inner=True)
    probes = probes_of(tracks, set(enrolled), {"train"})
    best = None
    for threshold in INNER_THRESHOLDS:
        for runner_up in (0.0, 0.03, 0.05, 0.1):
            rule = replace(base, inner_threshold=threshold, inner_runner_up_margin=runner_up)
            counts = judge(gallery, probes, set(enrolled), rule)
            key = (counts["stranger"]["matched"], counts["genuine"]["wrong"],
                   -counts["genuine"]["right"], -threshold, -runner_up)
            if best is None or key < best[0]:
                best = (key, rule, counts)
    return best[1], best[2]


def verification(tracks: list[dict]):
    """Distances between track descriptors: same person (another clip, or the other half of
    the clip) against different people."""
    from moderation.faces.identity import track_descriptor

    vectors = np.stack([track_descriptor(t["faces"]) for t in tracks])
    people = np.array([t["person"] for t in tracks])
    halves = np.array([f"{t['clip']}/{t['half']}" for t in tracks])
    distances, same = [], []
    for i in range(len(tracks)):
        for j in range(i + 1, len(tracks)):
            if halves[i] == halves[j]:
                continue  # neighbouring windows of one half are near copies
            distances.append(float(np.linalg.norm(vectors[i] - vectors[j])))
            same.append(people[i] == people[j])
    return np.array(distances), np.array(same)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "identity_video.npz")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "identity_video")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--gallery", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        console.print(f"[red]{DATA} is absent: the benchmark needs the clips of ../shared")
        return 2
    from sklearn.metrics import roc_auc_score, roc_curve

    from moderation.training.plots import Curve, save_curves

    clips, photos = load_or_collect(args.cache, args.frames, args.gallery, args.seed)
    tracks = windows(clips)
    distances, same = verification(tracks)
    fpr, tpr, cuts = roc_curve(same, -distances)
    auc = roc_auc_score(same, -distances)
    args.out.mkdir(parents=True, exist_ok=True)
    save_curves([Curve("video tracks (dlib 128-d)", fpr, tpr, np.array([1.0]), np.array([0.0]),
                       auc, float("nan"))], args.out / "verification_roc.png",
                args.out / "verification_pr.png")
    table = Table(title=f"Verification on video tracks ({len(tracks)} tracks of {WINDOW} faces, "
                        f"{same.sum()} same-person and {(~same).sum()} different pairs)")
    for column in ("threshold", "same called same", "different called same"):
        table.add_column(column, justify="right")
    for threshold in (0.4, 0.45, 0.5, 0.55, 0.6):
        table.add_row(f"{threshold:.2f}", f"{np.mean(distances[same] < threshold):.1%}",
                      f"{np.mean(distances[~same] < threshold):.2%}")
    console.print(table)
    console.print(f"verification AUC {auc:.4f}; ROC saved to {args.out / 'verification_roc.png'}")

    from moderation.faces.identity import track_descriptor

    for person in sorted(set(clips["person"])):
        names = sorted(set(clips["clip"][clips["person"] == person]))
        if len(names) > 1:  # one person's clips apart: what a reference from other footage is
            first, second = (track_descriptor(clips["descriptor"][clips["clip"] == n])
                             for n in names[:2])
            console.print(f"{person}: {len(names)} clips, their descriptors "
                          f"{np.linalg.norm(first - second):.3f} apart")
    rule, chosen_on = calibrate(clips, photos, tracks, args.gallery)
    console.print(f"rule chosen on train/real-clips alone: {rule} -> {chosen_on}")
    from moderation.config import Settings
    from moderation.faces.identity import TrackRule

    shipped = TrackRule.from_settings(Settings())
    inner_rule, inner_chosen_on = calibrate_inner(clips, photos, tracks, args.gallery, shipped)
    console.print(f"inner-face rule chosen on train/real-clips alone: {inner_rule} -> "
                  f"{inner_chosen_on}")
    enrolled = sorted({t["person"] for t in tracks if t["split"] == "train"})
    galleries = {False: build_gallery(clips, photos, enrolled, args.gallery),
                 True: build_gallery(clips, photos, enrolled, args.gallery, inner=True)}
    gallery = galleries[False]
    probes = probes_of(tracks, set(enrolled), {"train", "dev", "videos"})
    table = Table(title=f"Gallery of {len(gallery)} people ({len(enrolled)} from train clips, "
                        f"the rest LFW); probes: enrolled people's unseen halves and other clips, "
                        "strangers from dev/real-clips and videos/real_*")
    for column in ("rule", "genuine tracks", "named right", "named wrong", "not named",
                   "own tracks whose context disagrees", "stranger tracks", "strangers named",
                   "of them blockable", "resemblances (review)"):
        table.add_column(column, justify="right")
    rows = [("nearest < 0.6, 3 faces (old)", None, False),
            ("whole faces, shipped whole-face rule", shipped, False),
            ("inner faces, shipped defaults", shipped, True)]
    rows += [(f"whole-face rule at {t}", replace(rule, threshold=t), False)
             for t in (0.3, 0.4, 0.45)]
    rows += [(f"inner-face rule at {t}", replace(inner_rule, inner_threshold=t), True)
             for t in (0.4, 0.45, 0.5)]
    for name, chosen, inner in rows:
        counts = judge(galleries[inner], probes, set(enrolled), chosen)
        genuine, stranger = counts["genuine"], counts["stranger"]
        g_total, s_total = sum(genuine.values()), sum(stranger.values())
        table.add_row(name, str(g_total), f"{genuine['right'] / g_total:.1%}",
                      f"{genuine['wrong'] / g_total:.1%}", f"{genuine['none'] / g_total:.1%}",
                      str(counts["context_disagrees"]) if inner else "-", str(s_total),
                      f"{stranger['matched']} ({stranger['matched'] / s_total:.2%})",
                      "-" if chosen is None else f"{counts['stranger_blockable']} "
                                                 f"({counts['stranger_blockable'] / s_total:.2%})",
                      "-" if chosen is None else str(counts["resembles"]))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
