"""The ``moderation`` command."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from moderation.config import get_settings
from moderation.errors import ModerationError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ModerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser(
        "synth", help="make synthetic face-swap fakes from a folder of real faces",
        description="Make fakes from real faces: writes OUT/images/, OUT/masks/, "
        "OUT/recipes.jsonl and OUT/preview.png. The same seed gives identical files.")
    synth.add_argument("--real", type=Path, help="folder of real face photos (one sub-folder "
                       "per person, as LFW)")
    synth.add_argument("--out", type=Path, help="output folder")
    synth.add_argument("--count", type=int, default=100, help="number of fakes (default 100)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--size", type=int, default=256, help="side in pixels (default 256)")
    synth.add_argument("--crop-scale", type=float, default=2.0,
                       help="square crop side as a multiple of the landmarks' extent (default 2)")
    synth.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    synth.add_argument("--mode", choices=("pair", "self"), default="pair",
                       help="pair: A and B are different people; self: a photo blended with "
                       "a processed copy of itself")
    synth.add_argument("--pairing", choices=("random", "nearest"), default="random",
                       help="nearest: B has the closest landmark shape among --candidates")
    synth.add_argument("--candidates", type=int, default=8)
    synth.add_argument("--occlusion", type=Path, metavar="DIR",
                       help="occlusion maps of B (DIR/<B's relative path>.png, white = occluded)")
    synth.add_argument("--masks", type=Path, metavar="DIR",
                       help="precomputed masks of A replacing the landmark hull "
                       "(DIR/<A's relative path>.png, white = face)")
    synth.add_argument("--strict", action="store_true",
                       help="stop at the first bad input instead of skipping it")
    synth.add_argument("--replay", type=Path, metavar="RECIPES",
                       help="rebuild the fakes of a recipes.jsonl into --out")
    synth.add_argument("--list", action="store_true", help="list the registered operations")
    synth.set_defaults(handler=run_synth)

    landmarks = commands.add_parser(
        "landmarks", help="measure and cache the 68-point landmarks of a folder of faces")
    landmarks.add_argument("real", type=Path)
    landmarks.add_argument("--workers", type=int, default=1)
    landmarks.set_defaults(handler=run_landmarks)
    faces = commands.add_parser(
        "faces", help="find, track and crop the faces of a video",
        description="Samples frames evenly (MODERATION_FRAMES_PER_VIDEO, default 32), detects "
        "faces (MODERATION_FACE_DETECTOR) and links them into tracks.")
    faces.add_argument("video", type=Path)
    faces.add_argument("--jsonl", action="store_true",
                       help='one JSON line per sampled frame: {"t": s, "faces": [{"box": '
                       '[x1, y1, x2, y2], "score": p, "track": k}]}')
    faces.add_argument("--save-crops", type=Path, metavar="DIR",
                       help="write each face crop as DIR/<track>_<time>.png")
    sampling = faces.add_mutually_exclusive_group()
    sampling.add_argument("--frames", type=int, help="number of evenly spread samples")
    sampling.add_argument("--rate", type=float, help="samples per second instead")
    sampling.add_argument("--keyframes", action="store_true", help="keyframes only")
    faces.set_defaults(handler=run_faces)
    return parser


def run_faces(args: argparse.Namespace) -> int:
    import json

    from moderation.faces.scan import FaceScanner
    from moderation.images import write_png

    scanner = FaceScanner(get_settings())
    result = scanner.scan(args.video, count=args.frames, rate=args.rate,
                          keyframes_only=args.keyframes, keep_crops=args.save_crops is not None)
    if args.save_crops:
        args.save_crops.mkdir(parents=True, exist_ok=True)
        for faces in result.faces:
            for face in faces:
                write_png(args.save_crops / f"track{face.track:03d}_{face.time:08.3f}s.png",
                          face.crop)
    if args.jsonl:
        for line in result.frame_lines():
            print(json.dumps(line))
        return 0
    info = result.info
    print(f"{info.path}: {info.width}x{info.height}, {info.duration:.1f} s, {info.fps:.2f} fps, "
          f"rotation {info.rotation}; {len(result.frames)} frames sampled in "
          f"{result.timings['total']:.2f} s")
    with_faces = sum(1 for faces in result.faces if faces)
    print(f"faces in {with_faces} of {len(result.frames)} frames; {len(result.tracks)} tracks")
    for track in result.tracks:
        print(f"  track {track.id}: {track.start:.2f}-{track.end:.2f} s, {len(track.faces)} "
              f"faces, median side {track.median_side:.0f} px, mean score {track.mean_score:.3f}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    from moderation.synth import batch
    from moderation.synth.registry import registered_ops

    if args.list:
        for op in registered_ops():
            print(f"{op.step}\t{op.name}")
        return 0
    if args.out is None:
        raise ModerationError("--out is required")
    settings = get_settings()
    factory = batch.FolderFakesFactory(
        real=args.real, cache_dir=settings.cache_dir, seed=args.seed, mode=args.mode,
        size=args.size, crop_scale=args.crop_scale, pairing=args.pairing,
        candidates=args.candidates, strict=args.strict, occlusion_dir=args.occlusion,
        mask_dir=args.masks, min_side=settings.min_image_px, upsample=settings.landmark_upsample)
    if args.replay:
        recipes = batch.read_recipes(args.replay)
        if not recipes:
            raise ModerationError(f"{args.replay}: contains no recipes")
        first = recipes[0]
        factory = replace(factory, real=args.real or batch.root_of(args.replay),
                          mode=first.mode, size=first.size, crop_scale=first.crop_scale)
        summary = batch.replay(factory, args.replay, args.out, args.workers)
    else:
        if args.real is None:
            raise ModerationError("--real is required (or --replay, or --list)")
        summary = batch.generate(factory, args.out, args.count, args.workers)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0 if summary.written == summary.requested else 1


def run_landmarks(args: argparse.Namespace) -> int:
    from moderation.synth.precompute import precompute_landmarks

    settings = get_settings()
    measured, failed = precompute_landmarks(args.real, settings, args.workers)
    print(f"{measured} faces with landmarks, {failed} without; cached for {args.real}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
