"""Whose face does a swap show, and is a protected person's own photo ever called a swap of
themselves? Synthetic swaps of LFW people into other LFW people (our generator, pair mode,
people with 5+ photos) and the same people's own other photos, matched against a gallery that
holds every one of them from three other photos.

A swap should be named as the person whose face was swapped in (A), never as the person whose
photo was used (B); and the face around A's inner face is B's head, so the whole face lies
farther from A than the inner face does. In a person's own photo the two agree. Rows: the
rule shipped before inner faces (whole faces only, a certain match blocks) and the shipped
rule (inner faces name, the whole face judges the context: ``Gallery.match_track``), each as
the policy would act if the detector fired.

    .venv/bin/python bench/identity_swaps.py [--swaps 300] [--people 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from identity import LFW, people  # noqa: E402

console = Console(width=160)
REFERENCES = 3  # photos a person is enrolled from, none of them used in a swap or as own
OWN = 2  # own photos per person probed

SWAP_OUTCOMES = ("blocked naming A", "review: own appearance of A", "review: resembles A",
                 "named B", "named someone else", "no match")
OWN_OUTCOMES = ("blocked as a swap of themselves", "review: own appearance",
                "review: resembles them", "named someone else", "no match")


def outcome(match, swapped_in: str, photo_owner: str | None) -> str:
    """What the policy does with a face the detector flagged, named as ``match`` says."""
    if match is None:
        return "no match"
    if match.person_id != swapped_in:
        return "named B" if match.person_id == photo_owner else "named someone else"
    if not match.certain:
        return "review: resembles A"
    if match.context_agrees:
        return "review: own appearance of A"
    return "blocked naming A"


def own_outcome(match, person: str) -> str:
    named = outcome(match, person, None)
    return {"blocked naming A": "blocked as a swap of themselves",
            "review: own appearance of A": "review: own appearance",
            "review: resembles A": "review: resembles them"}.get(named, named)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=300)
    parser.add_argument("--people", type=int, default=100, help="the gallery: people drawn "
                        "from those with 5+ photos, every swap made among them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "identity_swaps")
    args = parser.parse_args()
    if not LFW.is_dir():
        console.print(f"[red]{LFW} is absent: the benchmark needs the LFW photos of ../shared")
        return 2
    import dlib

    from moderation.config import Settings
    from moderation.errors import InputError
    from moderation.faces.identity import FaceDescriber, Gallery, TrackRule
    from moderation.images import read_image
    from moderation.synth.generator import FakeGenerator

    rng = np.random.default_rng(args.seed)
    photos = {name: paths for name, paths in people(LFW).items()
              if len(paths) >= REFERENCES + OWN}
    names = sorted(rng.choice(sorted(photos), min(args.people, len(photos)), replace=False))
    describer = FaceDescriber()
    hog = dlib.get_frontal_face_detector()

    def describe(image: np.ndarray):
        found = hog(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1)
        if len(found) == 0:
            return None
        rect = max(found, key=lambda r: r.area())
        return describer.describe_regions(
            image, [(rect.left(), rect.top(), rect.right(), rect.bottom())])

    shipped = TrackRule.from_settings(Settings())
    with_inner, whole_only = Gallery(rule=shipped), Gallery(rule=shipped)
    for name in tqdm(names, desc="enrol", unit="person"):
        described = [r for r in (describe(read_image(p)) for p in photos[name][:REFERENCES])
                     if r is not None]
        if described:
            whole = np.concatenate([r.whole for r in described])
            with_inner.add(name, whole, np.concatenate([r.inner for r in described]))
            whole_only.add(name, whole)
    enrolled = set(with_inner.person_ids)
    rules = {"whole faces, certain blocks (before)": (whole_only, shipped),
             "shipped: inner names, whole judges context": (with_inner, shipped)}
    for margin in (0.04, 0.06, 0.12):
        rules[f"  same, context margin {margin}"] = (with_inner,
                                                     replace(shipped, context_margin=margin))
    rules["  same, inner threshold 0.45"] = (with_inner, replace(shipped, inner_threshold=0.45))
    own_counts = {rule: dict.fromkeys(OWN_OUTCOMES, 0) for rule in rules}
    gaps: dict[str, list[float]] = {"own": [], "swap": []}
    owned = 0
    for name in tqdm(sorted(enrolled), desc="own photos", unit="person"):
        for path in photos[name][REFERENCES:REFERENCES + OWN]:
            regions = describe(read_image(path))
            if regions is None:
                continue
            owned += 1
            for rule, (gallery, chosen) in rules.items():
                match = gallery.match_track(regions.whole, chosen, inner=regions.inner)
                own_counts[rule][own_outcome(match, name)] += 1
            gaps["own"].append(context_gap(with_inner, name, regions))

    generator = FakeGenerator(mode="pair")
    swap_counts = {rule: dict.fromkeys(SWAP_OUTCOMES, 0) for rule in rules}
    made = skipped = 0
    people_list = sorted(enrolled)
    with tqdm(total=args.swaps, desc="swaps", unit="swap") as progress:
        while made < args.swaps:
            a, b = (people_list[int(i)] for i in rng.choice(len(people_list), 2, replace=False))
            source = photos[a][REFERENCES + int(rng.integers(len(photos[a]) - REFERENCES))]
            target = photos[b][REFERENCES + int(rng.integers(len(photos[b]) - REFERENCES))]
            try:
                fake = generator.make(source, target, seed=int(rng.integers(2**31))).fake
            except InputError:
                skipped += 1
                continue
            regions = describe(fake)
            if regions is None:
                skipped += 1
                continue
            made += 1
            progress.update()
            for rule, (gallery, chosen) in rules.items():
                match = gallery.match_track(regions.whole, chosen, inner=regions.inner)
                swap_counts[rule][outcome(match, a, b)] += 1
            gaps["swap"].append(context_gap(with_inner, a, regions))

    title = (f"{made} synthetic swaps ({skipped} skipped: no face found) and {owned} own photos "
             f"of {len(enrolled)} LFW people with {REFERENCES + OWN}+ photos, each enrolled from "
             f"{REFERENCES} others; as if the detector fired on every one")
    console.print(counts_table(f"Swaps of A into B's photo. {title}", swap_counts, made))
    console.print(counts_table("The same people's own photos", own_counts, owned))
    picture = save_gaps(gaps, args.out / "context_gap.png")
    console.print(f"whole-face minus inner-face distance to the named person: own photos median "
                  f"{np.median(gaps['own']):.3f}, swaps {np.median(gaps['swap']):.3f}; "
                  f"AUC {auc(gaps['swap'], gaps['own']):.3f}; histogram saved to {picture}")
    return 0


def context_gap(gallery, person: str, regions) -> float:
    """How much farther the whole face lies from ``person`` than the inner face does."""
    rows = gallery.person_ids == person
    whole = np.linalg.norm(gallery.descriptors[rows] - regions.whole[0], axis=1).min()
    inner = np.linalg.norm(gallery.inner[rows] - regions.inner[0], axis=1).min()
    return float(whole - inner)


def auc(positive, negative) -> float:
    positive, negative = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean(positive > negative) + 0.5 * np.mean(positive == negative))


def counts_table(title: str, counts: dict, total: int) -> Table:
    table = Table(title=title)
    table.add_column("rule")
    for key in next(iter(counts.values())):
        table.add_column(key, justify="right")
    for rule, row in counts.items():
        table.add_row(rule, *(f"{n / max(total, 1):.1%}" for n in row.values()))
    return table


def save_gaps(gaps: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(-0.15, 0.3, 46)
    axes.hist(gaps["own"], bins, alpha=0.6, label="own photos (gap to themselves)")
    axes.hist(gaps["swap"], bins, alpha=0.6, label="swaps (gap to the swapped-in person)")
    axes.set_xlabel("whole-face distance minus inner-face distance")
    axes.set_ylabel("faces")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


if __name__ == "__main__":
    sys.exit(main())
