"""The Docker files, checked without a Docker engine: the compose file's services, commands,
dependencies and settings, and the Dockerfile's inputs and install steps against the Makefile."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from moderation.cli import build_parser
from moderation.config import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def makefile_no_deps_packages() -> list[str]:
    text = re.sub(r"\\\n", " ", (REPO / "Makefile").read_text())
    (line,) = [line for line in text.splitlines() if "--no-deps" in line]
    return [word for word in line.split() if "==" in word]


def test_the_dockerfile_copies_files_that_exist_and_installs_like_the_makefile():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copies = [shlex.split(args) for op, args in instructions if op == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is absent"
    installs = " ".join(args for op, args in instructions if op == "RUN" and "pip install" in args)
    assert "torch==2.14.1" in installs and "torchvision==0.29.1" in installs
    # CPU wheels unless told otherwise: the default index's carry CUDA.
    assert ("ARG", "TORCH_INDEX=https://download.pytorch.org/whl/cpu") in instructions
    assert '--index-url "$TORCH_INDEX" torch==2.14.1' in installs
    # Not editable: the wheel carries the migrations (tests/test_packaging.py).
    assert "pip install /tmp/src" in installs and "-e" not in installs.split()
    no_deps = installs.split("--no-deps", 1)[1].split()
    assert makefile_no_deps_packages() == [word for word in no_deps if "==" in word]
    # The package imports these at run time; the image must hold them.
    copied = {Path(source).parts[0] for *sources, _ in copies for source in sources}
    assert {"moderation", "worker", "migrations", "pyproject.toml"} <= copied


def test_the_dockerignore_keeps_what_the_dockerfile_copies():
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored
    copied = {Path(source).parts[0] for op, args in dockerfile_instructions() if op == "COPY"
              for source in shlex.split(args)[:-1]}
    assert not copied & set(ignored)


@pytest.fixture(scope="module")
def compose() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker/compose.yaml")
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _celery_argv(service: dict) -> list[str]:
    """What ``moderation-worker`` runs for a compose service, under its environment."""
    from worker.cli import build_parser as worker_parser
    from worker.cli import worker_argv

    command = service["command"]
    assert command[0] == "moderation-worker"
    args = worker_parser().parse_args(command[1:])
    environment = {key.removeprefix("MODERATION_").lower(): value
                   for key, value in service["environment"].items()
                   if not str(value).startswith("${")}
    return worker_argv(Settings(**environment), args.roles)


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_compose_has_the_services_and_their_commands(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "rabbitmq", "migrate", "worker", "alerts", "scoring",
                             "api"}
    assert services["migrate"]["command"] == ["moderation", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    # Scan workers grow from one pool process to two while the queue holds work.
    worker = _celery_argv(services["worker"])
    assert _option(worker, "-Q") == services["worker"]["environment"]["MODERATION_QUEUE"] \
        == Settings().queue
    assert _option(worker, "--autoscale") == "2,1"
    # Alerts have a worker of their own, on their queue only.
    alerts = _celery_argv(services["alerts"])
    assert _option(alerts, "-Q") == services["alerts"]["environment"]["MODERATION_ALERT_QUEUE"] \
        == Settings().alert_queue != Settings().queue
    assert _option(alerts, "--concurrency") == "1"
    assert "MODERATION_ALERT_SECRET" in services["alerts"]["environment"]
    # Each healthcheck pings its own worker by the node name moderation-worker gives it.
    for name, argv in (("worker", worker), ("alerts", alerts)):
        node = _option(argv, "-n").replace("%h", "$$HOSTNAME")
        assert f"-d {node} " in services[name]["healthcheck"]["test"][1]
    assert services["api"]["command"] == ["moderation", "serve", "--host", "0.0.0.0",
                                          "--port", "8000"]
    # The commands are the project's own.
    parser = build_parser()
    for name in ("migrate", "api"):
        parser.parse_args(services[name]["command"][1:])
    from worker.app import app

    assert app.conf.task_default_queue == Settings().queue
    assert app.amqp.router.route({}, "worker.tasks.deliver_alert")["queue"].name == \
        Settings().alert_queue


def test_compose_scores_on_a_gpu_worker_under_its_profile(compose):
    services = compose["services"]
    scoring = services["scoring"]
    assert scoring["profiles"] == ["gpu"]
    # Off by default: the scan workers score in their own processes unless told the queue.
    assert services["worker"]["environment"]["MODERATION_SCORING_QUEUE"] == \
        "${MODERATION_SCORING_QUEUE:-}"
    queue = "moderation-scoring"
    assert scoring["environment"]["MODERATION_SCORING_QUEUE"] == \
        f"${{MODERATION_SCORING_QUEUE:-{queue}}}"
    environment = {key.removeprefix("MODERATION_").lower(): value
                   for key, value in scoring["environment"].items()}
    environment["scoring_queue"] = queue
    settings = Settings(**environment)
    assert settings.detector_device == "cuda"
    from worker.cli import worker_argv

    assert _option(worker_argv(settings, ["scoring"]), "-Q") == queue
    assert scoring["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "TORCH_INDEX" in scoring["build"]["args"] and "cu" in scoring["build"]["args"][
        "TORCH_INDEX"].rsplit("/", 1)[1]
    # Crops come over the broker: no uploads, no database.
    assert scoring["volumes"] == [] and "MODERATION_DATABASE_URL" not in scoring["environment"]
    from worker.app import create_app

    router = create_app(settings).amqp.router
    assert router.route({}, "worker.tasks.score_crops")["queue"].name == queue


def test_compose_environment_names_are_settings(compose):
    fields = Settings.model_fields
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("MODERATION_"):
                field = variable.removeprefix("MODERATION_").lower()
                assert field in fields, f"{name}: {variable} is not a setting"
    for name in ("migrate", "worker", "alerts", "api"):
        environment = compose["services"][name]["environment"]
        assert {"MODERATION_DATABASE_URL", "MODERATION_BROKER_URL"} <= set(environment)
    assert "MODERATION_API_TOKEN" in compose["services"]["api"]["environment"]


def test_compose_starts_things_in_order_and_checks_their_health(compose):
    services = compose["services"]
    for name in ("postgres", "rabbitmq", "worker", "alerts", "scoring", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker", "alerts", "api"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "rabbitmq": {"condition": "service_healthy"}}
    # The API is healthy when it is ready (schema, broker, detector), not merely alive.
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/readyz" in api_check and "/healthz" not in api_check
    # The API registers uploads by path; the workers must see the same files.
    assert "uploads:/data/uploads" in services["worker"]["volumes"]
    assert "uploads:/data/uploads" in services["api"]["volumes"]
    assert "uploads" in compose["volumes"]
    for name in ("migrate", "worker", "alerts", "api"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert (DOCKER / services[name]["build"]["context"]
                / services[name]["build"]["dockerfile"]).resolve() \
            == (DOCKER / "Dockerfile").resolve()
