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


def test_compose_has_the_services_and_their_commands(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "rabbitmq", "migrate", "worker", "alerts", "api"}
    assert services["migrate"]["command"] == ["moderation", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "worker.app", "worker"]
    assert worker[worker.index("--concurrency") + 1] == "2"
    queue = worker[worker.index("-Q") + 1]
    assert queue == services["worker"]["environment"]["MODERATION_QUEUE"] == Settings().queue
    # Alerts have a worker of their own, on their queue only.
    alerts = services["alerts"]["command"]
    assert alerts[:4] == ["celery", "-A", "worker.app", "worker"]
    alert_queue = alerts[alerts.index("-Q") + 1]
    assert alert_queue == services["alerts"]["environment"]["MODERATION_ALERT_QUEUE"] \
        == Settings().alert_queue != queue
    assert "MODERATION_ALERT_SECRET" in services["alerts"]["environment"]
    assert services["api"]["command"] == ["moderation", "serve", "--host", "0.0.0.0",
                                          "--port", "8000"]
    # The commands are the project's own.
    parser = build_parser()
    for name in ("migrate", "api"):
        parser.parse_args(services[name]["command"][1:])
    from worker.app import app

    assert app.conf.task_default_queue == Settings().queue
    assert app.amqp.router.route({}, "worker.tasks.deliver_alert")["queue"].name == alert_queue


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
    for name in ("postgres", "rabbitmq", "worker", "alerts", "api"):
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
