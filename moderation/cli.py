"""The ``moderation`` command."""

# Each handler imports what it needs: the parser alone must stay cheap, so that --help, an
# argument error and `synth --list` load neither torch nor the settings' pydantic.
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moderation.errors import InputError, ModerationError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command != "serve":
            _interactive_logging()
        return args.handler(args)
    except ModerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = unreachable_service(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def _interactive_logging() -> None:
    """Text lines at WARNING unless the settings say otherwise (README: Observability);
    ``serve`` configures a service's logging instead."""
    from moderation.config import get_settings
    from moderation.errors import ConfigError
    from moderation.logs import configure_logging

    try:
        settings = get_settings()
    except ConfigError:
        return  # the command reports it if it needs the settings; synth, say, does not
    configure_logging(settings, interactive=True)


def unreachable_service(exc: Exception) -> str | None:
    """One line for a database or broker that cannot be reached, naming its URL without the
    password; None for any other error. Looks only at libraries already imported: an error
    cannot come from one that was not."""
    from moderation.config import get_settings

    database = sys.modules.get("sqlalchemy.exc")
    if database and isinstance(exc, (database.OperationalError, database.InterfaceError)):
        from sqlalchemy.engine import make_url

        url = make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
        cause = str(exc.orig or exc).strip().splitlines()
        return f"the database {url} cannot be reached: {cause[0] if cause else type(exc)}"
    broker = sys.modules.get("kombu.exceptions")
    if broker and isinstance(exc, broker.OperationalError):
        from kombu.utils.url import maybe_sanitize_url

        url = maybe_sanitize_url(get_settings().broker_url)
        return f"the broker {url} cannot be reached: {str(exc).strip() or type(exc).__name__}"
    return None


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
    synth.add_argument("--pipeline", type=Path, metavar="FILE",
                       help="the pipeline to draw fakes from, a JSON file (--save-pipeline "
                       "writes one); default: the built-in recipe of --mode")
    synth.add_argument("--save-pipeline", type=Path, metavar="FILE",
                       help="write the pipeline this run uses to FILE (without --real or "
                       "--replay: only write it)")
    synth.add_argument("--list", action="store_true", help="list the registered operations")
    synth.set_defaults(handler=run_synth)

    synth_video = commands.add_parser(
        "synth-video", help="put one face into every frame of a clip with the generator "
        "(a synthetic swap video for demos and tests; the recipe is saved beside it)")
    synth_video.add_argument("face", type=Path, help="photo, or video whose first face is used")
    synth_video.add_argument("target", type=Path, help="the clip to swap the face into")
    synth_video.add_argument("--out", type=Path, required=True, help="the video to write (.mp4)")
    synth_video.add_argument("--seed", type=int, default=0)
    synth_video.add_argument("--seconds", type=float, default=6.0,
                             help="length taken from the clip's start (default 6)")
    synth_video.add_argument("--pipeline", type=Path, metavar="FILE",
                             help="the pipeline, a JSON file (moderation synth --save-pipeline); "
                             "default: the built-in pair recipe")
    synth_video.set_defaults(handler=run_synth_video)

    landmarks = commands.add_parser(
        "landmarks", help="measure and cache the 68-point landmarks of a folder of faces")
    landmarks.add_argument("real", type=Path)
    landmarks.add_argument("--workers", type=int, default=1)
    landmarks.set_defaults(handler=run_landmarks)
    faces = commands.add_parser(
        "faces", help="find, track and crop the faces of a video",
        description="Samples frames evenly (MODERATION_FRAMES_PER_VIDEO, default 32), detects "
        "faces (MODERATION_FACE_DETECTOR) and links them into tracks.")
    faces.add_argument("videos", type=Path, nargs="+", metavar="video",
                       help="one or more videos, scanned one after another")
    faces.add_argument("--jsonl", action="store_true",
                       help='one JSON line per sampled frame: {"t": s, "faces": [{"box": '
                       '[x1, y1, x2, y2], "score": p, "track": k}]} (with several videos, '
                       '"video": path too)')
    faces.add_argument("--save-crops", type=Path, metavar="DIR",
                       help="write each face crop as DIR/<track>_<time>.png (with several "
                       "videos, DIR/<video name>/...)")
    sampling = faces.add_mutually_exclusive_group()
    sampling.add_argument("--frames", type=int, help="number of evenly spread samples")
    sampling.add_argument("--rate", type=float, help="samples per second instead")
    sampling.add_argument("--keyframes", action="store_true", help="keyframes only")
    faces.set_defaults(handler=run_faces)

    train = commands.add_parser(
        "train", help="train the swap detector on synthetic fakes (the method's loop)",
        description="Round after round: train on real faces against fresh fakes, test on the "
        "evaluation set's real deepfakes, stop at --target-auc or after --rounds.")
    train.add_argument("--real", type=Path, help="folder of real face photos, one sub-folder "
                       "per person (with --prepare: a photo source named after it; otherwise "
                       "only for an index made before sources)")
    train.add_argument("--index", type=Path, required=True,
                       help="the faces index (.npz); built first with --prepare")
    train.add_argument("--prepare", action="store_true",
                       help="measure landmarks and face boxes of the sources into --index, "
                       "then stop")
    train.add_argument("--photos", action="append", default=[], metavar="[NAME=]DIR",
                       help="with --prepare: a photo source (one sub-folder per person)")
    train.add_argument("--videos", action="append", default=[], metavar="[NAME=]DIR",
                       help="with --prepare: a folder of real clips (one person per clip)")
    train.add_argument("--crops", action="append", default=[], metavar="[NAME=]DIR",
                       help="with --prepare: a folder of tight face crops (one per video)")
    train.add_argument("--frames-dir", type=Path, default=Path("runs/index_frames"),
                       help="with --prepare: where the face regions of --videos are saved")
    train.add_argument("--frames-per-clip", type=int, default=48)
    train.add_argument("--limit", type=int,
                       help="with --prepare: images to index per photo or crop source")
    train.add_argument("--source-weight", action="append", default=[], metavar="NAME=W",
                       help="sampling weight of a source (default: equal)")
    train.add_argument("--calibration-videos", action="append", default=[], type=Path,
                       metavar="DIR", help="folder of real clips; those of held-out people "
                       "set the threshold on video (the --videos folders, as a rule)")
    train.add_argument("--calibration-windows", type=int, default=4, metavar="N",
                       help="short videos cut from each held-out clip (default 4)")
    train.add_argument("--freeze-blocks", type=int, default=0, metavar="N",
                       help="keep the backbone's first N blocks as initialised (fine-tuning)")
    train.add_argument("--framing", action=argparse.BooleanOptionalAction, default=True,
                       help="framing jitter on both classes (default on)")
    train.add_argument("--devset", type=Path, help="cached evaluation crops (moderation devset)")
    train.add_argument("--out", type=Path, default=Path("runs/detector"))
    train.add_argument("--model", default="mobilenet_v2")
    train.add_argument("--rounds", type=int, default=3)
    train.add_argument("--steps", type=int, default=1500, help="steps per round")
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--target-auc", type=float, default=0.9)
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto")
    train.add_argument("--time-budget", type=float, help="seconds; the run stops after it")
    train.add_argument("--init", type=Path,
                       help="start from this checkpoint's weights (fine-tune) instead of ImageNet")
    train.add_argument("--learned-fusion", type=float, default=0.0, metavar="SHARE",
                       help="share of fakes fused by the learned fusion network (0 to 1)")
    train.add_argument("--boundary-weight", type=float, default=0.0,
                       help="train an auxiliary blending-boundary head with this loss weight")
    train.set_defaults(handler=run_train)

    soup = commands.add_parser(
        "soup", help="average detectors fine-tuned from one checkpoint into one (a model soup)",
        description="Averages the weights, sets the soup's threshold on held-out real faces "
                    "and measures it on the evaluation cache.")
    soup.add_argument("checkpoints", type=Path, nargs="+")
    soup.add_argument("--real", type=Path, required=True, help="folder of real face photos")
    soup.add_argument("--index", type=Path, required=True, help="the runs' face index")
    soup.add_argument("--devset", type=Path, help="cached evaluation crops (moderation devset)")
    soup.add_argument("--out", type=Path, required=True, help="the soup's checkpoint file")
    soup.add_argument("--workers", type=int, default=2)
    soup.set_defaults(handler=run_soup)

    devset = commands.add_parser(
        "devset", help="extract the face crops of labeled evaluation media once, for training")
    devset.add_argument("sources", type=Path, nargs="+", help="labeled folders or CSV files")
    devset.add_argument("--out", type=Path, required=True)
    devset.add_argument("--size", type=int, default=160)
    devset.add_argument("--margin", type=float, default=0.3)
    devset.set_defaults(handler=run_devset)

    score = commands.add_parser("score", help="score images or videos with the swap detector")
    score.add_argument("paths", type=Path, nargs="+")
    score.add_argument("--crops", action="store_true", help="each image is one face crop")
    score.add_argument("--jsonl", action="store_true", help="one JSON line per input")
    score.add_argument("--checkpoint", type=Path, help="default: the shipped detector")
    score.set_defaults(handler=run_score)

    evaluate = commands.add_parser(
        "evaluate", help="AUC/AP of the detector on a labeled folder or CSV, with curves")
    evaluate.add_argument("source", type=Path, help="folder (real_*/fake_*/reenact_* or "
                          "real/ and fake/ sub-folders) or CSV (path,label[,group])")
    evaluate.add_argument("--crops", action="store_true", help="the images are face crops")
    evaluate.add_argument("--out", type=Path, default=Path("runs/evaluation"))
    evaluate.add_argument("--checkpoint", type=Path)
    evaluate.add_argument("--threshold", type=float)
    evaluate.set_defaults(handler=run_evaluate)

    scan = commands.add_parser(
        "scan", help="moderate one video in process (embedded SQLite unless "
        "MODERATION_DATABASE_URL is set) and print the verdict as JSON")
    scan.add_argument("videos", type=Path, nargs="+", metavar="video",
                      help="one or more videos, moderated one after another in this process "
                      "(several print a JSON list)")
    scan.add_argument("--uploader", default="cli", help="uploader id (consents are per uploader)")
    scan.set_defaults(handler=run_scan)

    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: migrate to the latest schema")
    db.set_defaults(handler=run_db)

    persons = commands.add_parser(
        "persons", help="protected persons: enrol, list, show, consent, revoke, remove",
        description="Every change is recorded in the audit log as cli:<your login name>.")
    person_actions = persons.add_subparsers(dest="action", required=True)
    enroll = person_actions.add_parser(
        "enroll", help="enrol from photos or videos (a file enrolled before adds nothing)")
    enroll.add_argument("name")
    enroll.add_argument("sources", type=Path, nargs="+", help="photos or videos of the person")
    enroll.add_argument("--consent", action="append", default=[], metavar="UPLOADER",
                        help="an uploader this person allows (repeatable)")
    person_actions.add_parser("list", help="persons, descriptors and consents in force")
    show = person_actions.add_parser("show", help="one person with consents and enrolments")
    show.add_argument("person", help="id or exact name")
    consent = person_actions.add_parser("consent", help="the person allows an uploader")
    consent.add_argument("person", help="id or exact name")
    consent.add_argument("uploader")
    revoke_consent = person_actions.add_parser(
        "revoke", help="withdraw an uploader's consent")
    revoke_consent.add_argument("person", help="id or exact name")
    revoke_consent.add_argument("uploader")
    remove = person_actions.add_parser(
        "remove", help="stop protecting the person: descriptors and consents are deleted")
    remove.add_argument("person", help="id or exact name")
    persons.set_defaults(handler=run_persons)

    reviewers = commands.add_parser(
        "reviewers", help="reviewers and their tokens",
        description="Each reviewer signs in to the review page and the API with a token of "
        "their own; the database keeps only its SHA-256.")
    reviewer_actions = reviewers.add_subparsers(dest="action", required=True)
    add = reviewer_actions.add_parser("add", help="add a reviewer and print their token once")
    add.add_argument("name")
    reviewer_actions.add_parser("list", help="reviewers, when added, whether revoked")
    revoke = reviewer_actions.add_parser(
        "revoke", help="refuse the reviewer's token from now on and end their sessions")
    revoke.add_argument("name")
    reviewers.set_defaults(handler=run_reviewers)

    serve = commands.add_parser("serve", help="the publish gate, upload and review HTTP API")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(handler=run_serve)
    return parser


def run_scan(args: argparse.Namespace) -> int:
    import json
    import os

    from tqdm import tqdm

    from moderation.alerts import deliver_with_retries
    from moderation.db.uploads import register_upload
    from moderation.service import Moderation
    from moderation.sources import open_source

    service = Moderation()
    # Every file is checked before the database or the detector is touched: a bad name costs
    # nothing and is reported with the others. The operator named these files: each one's
    # folder counts as a source root for its scan (a symlink in it that leads elsewhere is
    # still refused).
    checked, failures = [], 0
    for video in args.videos:
        named = Path(os.path.abspath(video))
        roots = [*service.settings.source_roots, Path(os.path.realpath(named.parent))]
        try:
            checked.append((video, str(open_source(str(named), roots)), roots))
        except ModerationError as exc:  # refused, missing, a directory or a FIFO
            failures += 1
            print(f"error: {exc}", file=sys.stderr)
    if not checked:
        return 2
    service.migrate()
    verdicts = []
    for video, source, roots in tqdm(checked, desc="scan", unit="video",
                                     disable=len(checked) == 1):
        with service.sessions() as session, session.begin():
            upload_id = register_upload(session, source, args.uploader).id
        outcome = service.scan(upload_id, roots)
        if outcome.alert_id is not None and service.settings.webhook_url:
            deliver_with_retries(service.sessions, outcome.alert_id,
                                 service.settings.webhook_url, service.settings.webhook_attempts,
                                 secret=service.settings.alert_secret.get_secret_value())
        verdicts.append({"upload_id": outcome.upload_id, "video": str(video),
                         "decision": outcome.decision, "reasons": outcome.reasons})
    print(json.dumps(verdicts[0] if len(args.videos) == 1 else verdicts, indent=2))
    return 2 if failures else 0


def run_db(args: argparse.Namespace) -> int:
    # Not through the service, which would import the detector (torch) to migrate a schema.
    from tqdm import tqdm

    from moderation.config import get_settings
    from moderation.db.session import pending_revisions, upgrade

    url = get_settings().resolved_database_url
    pending = pending_revisions(url)
    with tqdm(total=len(pending), desc="migrate", unit="revision",
              disable=len(pending) <= 1) as bar:
        if pending:
            bar.set_postfix_str(pending[0])

        def applied(revision: str) -> None:
            bar.update()
            if bar.n < len(pending):  # the one being applied now: a backfill takes a while
                bar.set_postfix_str(pending[bar.n])

        upgrade(url, on_step=applied)
    done = f"applied {', '.join(pending)}" if pending else "it was there already"
    print(f"migrated {url.split('@')[-1]} to the latest schema ({done})", file=sys.stderr)
    return 0


def run_persons(args: argparse.Namespace) -> int:
    from moderation.db import persons
    from moderation.service import Moderation

    service = Moderation()
    service.migrate()
    actor = cli_actor()
    if args.action == "enroll":
        person_id = service.enroll(args.name, args.sources, args.consent, actor,
                                   progress=True)
        with service.sessions() as session:
            count = len(persons.find_person(session, person_id).descriptors)
        print(f"enrolled {args.name} ({person_id}) from {len(args.sources)} sources: "
              f"{count} descriptors", file=sys.stderr)
        return 0
    with service.sessions() as session, session.begin():
        if args.action == "list":
            for person in persons.list_persons(session):
                consents = ",".join(sorted(c.uploader_id for c in person.consents
                                           if c.revoked_at is None)) or "-"
                print(f"{person.id}\t{person.name}\t{len(person.descriptors)} descriptors"
                      f"\tconsents {consents}")
            return 0
        person = persons.find_person(session, args.person)
        if args.action == "show":
            print(json.dumps(persons.describe_person(session, person), indent=2))
        elif args.action == "consent":
            persons.grant_consent(session, person, args.uploader, actor)
            print(f"{person.name} allows {args.uploader}", file=sys.stderr)
        elif args.action == "revoke":
            if not persons.revoke_consent(session, person, args.uploader, actor):
                raise ModerationError(f"{args.uploader} has no consent of {person.name} in "
                                      "force")
            print(f"{person.name} no longer allows {args.uploader}", file=sys.stderr)
        else:
            name = person.name
            persons.remove_person(session, person, actor)
            print(f"removed {name}: no longer protected", file=sys.stderr)
    return 0


def cli_actor() -> str:
    """The audit log's actor for commands run by an operator: ``cli:<login name>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_reviewers(args: argparse.Namespace) -> int:
    from moderation.db import reviewers
    from moderation.service import Moderation

    service = Moderation()
    service.migrate()
    with service.sessions() as session, session.begin():
        if args.action == "add":
            reviewer, token = reviewers.add_reviewer(session, args.name, cli_actor())
            print(token)
            print(f"added reviewer {reviewer.name}: the token above is shown only now",
                  file=sys.stderr)
        elif args.action == "revoke":
            reviewers.revoke_reviewer(session, args.name, cli_actor())
            print(f"revoked {args.name}: their token is refused and their sessions ended",
                  file=sys.stderr)
        else:
            for reviewer in reviewers.list_reviewers(session):
                state = (f"revoked {reviewer.revoked_at:%Y-%m-%d %H:%M}" if reviewer.revoked_at
                         else "active")
                print(f"{reviewer.name}\tadded {reviewer.created_at:%Y-%m-%d %H:%M}\t{state}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from moderation.config import get_settings
    from moderation.gate.app import create_app
    from moderation.logs import configure_logging

    settings = get_settings()
    if not settings.api_token:
        raise ModerationError("set MODERATION_API_TOKEN: the API refuses to run without a token")
    # A service's logging (JSON by default), uvicorn's loggers included: it configures none.
    configure_logging(settings, interactive=False)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from moderation.config import get_settings

    settings = get_settings()
    if args.prepare:
        from moderation.training.faces_index import SourceSpec, build_sources

        specs = [SourceSpec.parse(kind, text)
                 for kind, texts in (("photos", args.photos + ([str(args.real)] if args.real
                                                                 else [])),
                                     ("videos", args.videos), ("crops", args.crops))
                 for text in texts]
        index = build_sources(specs, settings, args.frames_dir, args.limit,
                              args.frames_per_clip, args.seed)
        index.save(args.index)
        counts = ", ".join(f"{name} {c['images']} ({c['people']} people)"
                           for name, c in index.counts().items())
        print(f"indexed {len(index)} faces into {args.index}: {counts}", file=sys.stderr)
        return 0
    from moderation.training.train import TrainConfig, train

    config = TrainConfig(index=args.index, real_root=args.real, out=args.out,
                         source_weights=_weights(args.source_weight),
                         calibration_videos=args.calibration_videos,
                         calibration_windows=args.calibration_windows, framing=args.framing,
                         freeze_blocks=args.freeze_blocks,
                         devset=args.devset, model=args.model, rounds=args.rounds,
                         steps_per_round=args.steps, batch=args.batch,
                         learning_rate=args.learning_rate, target_auc=args.target_auc,
                         workers=args.workers, seed=args.seed, device=args.device,
                         time_budget_s=args.time_budget, init=args.init,
                         learned_fusion=args.learned_fusion,
                         boundary_weight=args.boundary_weight)
    for result in train(config, settings):
        print(f"round {result.round}: steps {result.steps}, loss {result.train_loss:.3f}, "
              f"synthetic AUC {result.synthetic_auc}, threshold {result.threshold:.3f}, "
              f"test {result.dev}", file=sys.stderr)
    return 0


def _weights(texts: list[str]) -> dict[str, float] | None:
    weights = {}
    for text in texts:
        name, _, value = text.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ModerationError(f"--source-weight {text!r}: expected NAME=NUMBER") from None
    return weights or None


def run_soup(args: argparse.Namespace) -> int:
    from moderation.training.soup import make_soup

    result = make_soup(args.checkpoints, args.index, args.real, args.out, args.devset,
                       args.workers)
    print(f"soup of {len(args.checkpoints)}: synthetic AUC {result.synthetic_auc}, "
          f"threshold {result.threshold:.3f}, test {result.dev} -> {args.out}", file=sys.stderr)
    return 0


def run_devset(args: argparse.Namespace) -> int:
    from moderation.config import get_settings
    from moderation.faces.crops import CropGeometry
    from moderation.training.devset import build_devset

    count = build_devset(args.sources, args.out, get_settings(),
                         CropGeometry(size=args.size, margin=args.margin))
    print(f"cached the face crops of {count} items in {args.out}", file=sys.stderr)
    return 0


def run_score(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from moderation.errors import InputError

    missing = [path for path in args.paths if not path.exists()]
    for path in missing:  # reported before the model loads
        print(f"error: {path}: no such file or folder", file=sys.stderr)
    paths = [path for path in args.paths if path.exists()]
    if not paths:
        return 2
    scorer = _media_scorer(args.checkpoint)
    failures = len(missing)
    for path in tqdm(paths, desc="score", unit="input", disable=len(paths) == 1):
        try:
            result = scorer.score_path(path, crops=args.crops)
        except InputError as exc:
            failures += 1
            _write(f"error: {exc}", sys.stderr)
            continue
        if args.jsonl:
            _write(json.dumps(result.to_json()))
        else:
            score = "-" if result.score is None else f"{result.score:.3f}"
            _write(f"{result.label:8s} {score:>6s}  {result.faces:3d} faces  {path}")
    return 2 if failures else 0


def run_evaluate(args: argparse.Namespace) -> int:
    from moderation.training.evaluate import evaluate, load_labeled

    labeled = load_labeled(args.source)  # a bad source is reported before the model loads
    report = evaluate(_media_scorer(args.checkpoint), labeled, crops=args.crops,
                      threshold=args.threshold, out_dir=args.out)
    for task, numbers in report["tasks"].items():
        print(f"{task}: video AUC {numbers['video']['auc']}, AP {numbers['video']['ap']}; "
              f"frame AUC {numbers['frame']['auc']}; real flagged {numbers['real_flagged']} "
              f"(frames {numbers['real_frames_flagged']}), "
              f"caught {numbers['caught']}")
    print(f"report and curves in {args.out}", file=sys.stderr)
    return 0


def _media_scorer(checkpoint: Path | None):
    """The detector (``checkpoint``, else the configured one) and its face scanner, built from
    the settings here at the edge."""
    from moderation.config import get_settings
    from moderation.detector.inference import SwapDetector, use_threads
    from moderation.pipeline import MediaScorer, build_scanner

    settings = get_settings()
    use_threads(settings.torch_threads)
    detector = SwapDetector.load(checkpoint or settings.detector_checkpoint, settings.cache_dir)
    return MediaScorer(detector, build_scanner(settings, detector))


def run_faces(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from moderation.config import get_settings
    from moderation.detector.inference import use_threads
    from moderation.faces.scan import FaceScanner
    from moderation.images import write_png

    several = len(args.videos) > 1
    names = [video.stem for video in args.videos]
    if several and args.save_crops and len(set(names)) < len(names):
        raise ModerationError("--save-crops with several videos writes DIR/<video name>/: "
                              "two of these videos have the same name")
    settings = get_settings()
    use_threads(settings.torch_threads)
    scanner = FaceScanner(settings)
    failures = 0
    for video in tqdm(args.videos, desc="faces", unit="video", disable=not several):
        try:
            result = scanner.scan(video, count=args.frames, rate=args.rate,
                                  keyframes_only=args.keyframes,
                                  keep_crops=args.save_crops is not None)
        except InputError as exc:
            if not several:
                raise
            failures += 1
            _write(f"error: {exc}", sys.stderr)
            continue
        if args.save_crops:
            folder = args.save_crops / video.stem if several else args.save_crops
            folder.mkdir(parents=True, exist_ok=True)
            for faces in result.faces:
                for face in faces:
                    write_png(folder / f"track{face.track:03d}_{face.time:08.3f}s.png",
                              face.crop)
        for line in _faces_lines(result, args.jsonl, str(video) if several else None):
            _write(line)
    return 2 if failures else 0


def _faces_lines(result, jsonl: bool, video: str | None) -> list[str]:
    """What ``moderation faces`` prints of one video: JSON lines (each naming ``video`` when
    there are several) or the summary."""
    if jsonl:
        return [json.dumps({"video": video, **line} if video else line)
                for line in result.frame_lines()]
    info = result.info
    lines = [f"{info.path}: {info.width}x{info.height}, {info.duration:.1f} s, "
             f"{info.fps:.2f} fps, rotation {info.rotation}; {len(result.frames)} frames sampled "
             f"in {result.timings['total']:.2f} s"]
    with_faces = sum(1 for faces in result.faces if faces)
    lines.append(f"faces in {with_faces} of {len(result.frames)} frames; {len(result.tracks)} "
                 "tracks")
    lines.extend(f"  track {track.id}: {track.start:.2f}-{track.end:.2f} s, {len(track.faces)} "
                 f"faces, median side {track.median_side:.0f} px, mean score "
                 f"{track.mean_score:.3f}" for track in result.tracks)
    return lines


def _write(line: str, file=None) -> None:
    """``print`` for a command that may have a bar on stderr: a line for the bar's stream or
    for a terminal goes through tqdm, which clears the bar and draws it again under the line;
    one for a pipe or a file is printed as it is."""
    from tqdm import tqdm

    file = file or sys.stdout
    if file is sys.stderr or file.isatty():
        tqdm.write(line, file=file)
    else:
        print(line, file=file)


def run_synth_video(args: argparse.Namespace) -> int:
    from moderation.synth.video import swap_video

    for path in (args.face, args.target):
        if not path.is_file():
            raise InputError(str(path), "is not a file")
    generator = None
    if args.pipeline is not None:
        from moderation.synth.generator import FakeGenerator
        from moderation.synth.pipeline import Pipeline

        generator = FakeGenerator(Pipeline.load(args.pipeline), mode="pair")
    made = swap_video(args.face, args.target, args.out, args.seed, args.seconds, generator)
    print(f"{made.path}: the face of {args.face.name} in {made.swapped} of {made.frames} frames "
          f"of {args.target.name}; recipe in {made.recipe_path}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    if args.list:
        from moderation.synth.registry import list_ops

        for key in list_ops():  # plug-ins included, without importing them (torch)
            step, _, name = key.partition("/")
            print(f"{step}\t{name}")
        return 0
    from moderation.config import get_settings
    from moderation.synth import batch
    from moderation.synth.pipeline import Pipeline, default_pipeline

    # Read here, before any worker starts: a bad file is one clear error.
    pipeline = Pipeline.load(args.pipeline) if args.pipeline else None
    if args.save_pipeline:
        (pipeline or Pipeline(default_pipeline(args.mode))).save(args.save_pipeline)
        print(f"pipeline written to {args.save_pipeline}", file=sys.stderr)
        if args.real is None and args.replay is None:
            return 0
    if args.out is None:
        raise ModerationError("--out is required")
    settings = get_settings()
    factory = batch.FolderFakesFactory(
        real=args.real, cache_dir=settings.cache_dir, seed=args.seed, mode=args.mode,
        size=args.size, crop_scale=args.crop_scale, pairing=args.pairing,
        candidates=args.candidates, strict=args.strict, occlusion_dir=args.occlusion,
        mask_dir=args.masks, min_side=settings.min_image_px, upsample=settings.landmark_upsample,
        pipeline=args.pipeline)
    if args.replay:
        summary = batch.replay(factory, args.replay, args.out, args.workers, args.real)
    else:
        if args.real is None:
            raise ModerationError("--real is required (or --replay, or --list)")
        summary = batch.generate(factory, args.out, args.count, args.workers)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0 if summary.written == summary.requested else 1


def run_landmarks(args: argparse.Namespace) -> int:
    from moderation.config import get_settings
    from moderation.synth.precompute import precompute_landmarks

    settings = get_settings()
    measured, failed = precompute_landmarks(args.real, settings, args.workers)
    print(f"{measured} faces with landmarks, {failed} without; cached for {args.real}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
