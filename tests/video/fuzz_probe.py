"""A fixed-time atheris fuzz of the reader's entry: bytes written to a file, ``probe`` and three
frames read. Only the reader's typed errors (``moderation.errors.InputError``) may come out;
anything else is a finding, and libFuzzer saves the input that caused it.

    .venv/bin/python tests/video/fuzz_probe.py [--seconds 300] [--seed 1] [--corpus DIR]

The corpus starts from small valid clips (mp4, Matroska, AVI, MPEG-TS, FLV, raw H.264) written
here; libFuzzer's own mutations are seeded by ``--seed``. Python code is instrumented (the
reader's branches steer the search), FFmpeg is not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# Tight limits: one input must not hold the fuzzer for long (libFuzzer's own -timeout is the
# backstop for a hang inside FFmpeg).
LIMITS = dict(max_seconds=120.0, max_pixels=1920 * 1080, decode_timeout=2.0, probe_timeout=2.0)


def seed_corpus(folder: Path) -> Path:
    """Small valid clips in every allowed container, a few hundred bytes to a few KB each."""
    from tests.video import hostile
    from tests.video.conftest import encode

    folder.mkdir(parents=True, exist_ok=True)
    units = hostile.skip_frames_h264(64, 48, 12, keyframe_every=6)
    for format, suffix in (("matroska", "mkv"), ("mp4", "mp4"), ("avi", "avi"),
                           ("mpegts", "ts"), ("flv", "flv"), (None, "h264")):
        hostile.write_h264(folder / f"seed.{suffix}", units, format)
    encode(folder / "x264.mp4", count=8, width=64, height=48, audio=True)
    hostile.extreme_frames(folder / "ffv1.mkv", 40, 32, count=3)
    return folder


def one_input(data: bytes, folder: str) -> None:
    from moderation.errors import InputError
    from moderation.video.reader import VideoLimits, probe, read_frames, sample_times

    path = os.path.join(folder, "input.mp4")
    with open(path, "wb") as file:
        file.write(data)
    limits = VideoLimits(**LIMITS)
    try:
        info = probe(path, limits)
        read_frames(info, sample_times(info, count=3), limits)
    except InputError:
        pass  # typed: what the reader is for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, help="a folder for the corpus (kept); a "
                        "temporary one by default")
    parser.add_argument("--artifacts", type=Path, default=Path("."),
                        help="where a crashing input is saved")
    args = parser.parse_args()

    import atheris

    import moderation.config  # noqa: F401 (its dependencies stay uninstrumented: slow)
    import moderation.errors  # noqa: F401

    with atheris.instrument_imports(include=["moderation.video"]):
        import moderation.video.reader  # noqa: F401

    # PyAV's log callback is left off, as in the service: turned on (av.logging.set_level), it
    # deadlocked a frame-threaded decoder being closed on the 10th input (GIL against the
    # decoder's thread), a hang of the harness, not of the reader.
    with tempfile.TemporaryDirectory() as scratch:
        corpus = seed_corpus(args.corpus or Path(scratch) / "corpus")
        args.artifacts.mkdir(parents=True, exist_ok=True)
        libfuzzer = [sys.argv[0], f"-max_total_time={args.seconds}", f"-seed={args.seed}",
                     "-timeout=20", "-rss_limit_mb=3000", "-max_len=65536",
                     f"-artifact_prefix={args.artifacts}/", "-print_final_stats=1",
                     str(corpus)]
        atheris.Setup(libfuzzer, lambda data: one_input(data, scratch))
        atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
