"""Whose face does a swap show? Synthetic swaps of LFW people into other LFW people (our
generator, pair mode, people with 4+ photos), matched against a gallery that holds both people
from their other photos: the swap should be named as the person whose face was swapped in (A),
never as the person whose photo was used (B).

    .venv/bin/python bench/identity_swaps.py [--swaps 300] [--people 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from identity import LFW, people  # noqa: E402

console = Console(width=140)
REFERENCES = 3  # photos a person is enrolled from, none of them used in a swap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=300)
    parser.add_argument("--people", type=int, default=100, help="the gallery: people drawn "
                        "from those with 4+ photos, every swap made among them")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not LFW.is_dir():
        console.print(f"[red]{LFW} is absent: the benchmark needs the LFW photos of ../shared")
        return 2
    import dlib

    from moderation.errors import InputError
    from moderation.faces.identity import FaceDescriber, Gallery, TrackRule
    from moderation.images import read_image
    from moderation.synth.generator import FakeGenerator

    rng = np.random.default_rng(args.seed)
    photos = {name: paths for name, paths in people(LFW).items() if len(paths) >= 4}
    names = sorted(rng.choice(sorted(photos), min(args.people, len(photos)), replace=False))
    describer = FaceDescriber()
    hog = dlib.get_frontal_face_detector()

    def describe(image: np.ndarray) -> np.ndarray | None:
        found = hog(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1)
        if len(found) == 0:
            return None
        rect = max(found, key=lambda r: r.area())
        return describer.describe(image, (rect.left(), rect.top(), rect.right(), rect.bottom()))

    gallery = Gallery(threshold=0.6)
    for name in tqdm(names, desc="enrol", unit="person"):
        vectors = [v for v in (describe(read_image(p)) for p in photos[name][:REFERENCES])
                   if v is not None]
        if vectors:
            gallery.add(name, np.stack(vectors))
    generator = FakeGenerator(mode="pair")
    counts = {rule: {"A (swapped in)": 0, "B (photo used)": 0, "someone else": 0, "nobody": 0}
              for rule in ("nearest < 0.6 (photo threshold)", "track rule: certain (blocks)",
                           "track rule: certain or resembles (review)")}
    made = skipped = 0
    with tqdm(total=args.swaps, desc="swaps", unit="swap") as progress:
        while made < args.swaps:
            a, b = (names[int(i)] for i in rng.choice(len(names), 2, replace=False))
            source = photos[a][REFERENCES + int(rng.integers(len(photos[a]) - REFERENCES))]
            target = photos[b][REFERENCES + int(rng.integers(len(photos[b]) - REFERENCES))]
            try:
                fake = generator.make(source, target, seed=int(rng.integers(2**31))).fake
            except InputError:
                skipped += 1
                continue
            vector = describe(fake)
            if vector is None:
                skipped += 1
                continue
            made += 1
            progress.update()
            track = gallery.match_track(vector[None], TrackRule())
            for rule, match in (("nearest < 0.6 (photo threshold)", gallery.match(vector)),
                                ("track rule: certain (blocks)",
                                 track if track is not None and track.certain else None),
                                ("track rule: certain or resembles (review)", track)):
                named = None if match is None else match.person_id
                key = ("nobody" if named is None else "A (swapped in)" if named == a
                       else "B (photo used)" if named == b else "someone else")
                counts[rule][key] += 1
    table = Table(title=f"{made} synthetic swaps of LFW people with 4+ photos ({skipped} "
                        f"skipped: no face found), gallery of {len(gallery)} people from "
                        f"{REFERENCES} other photos each")
    table.add_column("rule")
    for key in next(iter(counts.values())):
        table.add_column(f"named {key}" if key != "nobody" else "no match", justify="right")
    for rule, row in counts.items():
        table.add_row(rule, *(f"{n / made:.1%}" for n in row.values()))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
