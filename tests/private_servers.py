"""PostgreSQL and RabbitMQ servers of a test's or benchmark's own: started from the installed
binaries on a free port with a temporary data folder, restarted or stopped at will, removed on
exit. The machine's own servers are never touched, so a run that restarts these cannot disturb
anyone else's tests.

As root the servers run as the packages' service users (``postgres``, ``rabbitmq``), which
PostgreSQL requires; the data folder is made under the system's temporary folder so that user
can reach it (pytest's folders are private to root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The binaries or the service user are missing; the message says which."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class _Server:
    """What both servers share: a temporary root owned by the service user, and running
    commands as that user when this process is root."""

    service_user = ""

    def __init__(self, root: Path | None = None):
        self.user = self.service_user if os.geteuid() == 0 else None
        if self.user is not None:
            try:
                pwd.getpwnam(self.user)
            except KeyError as exc:
                raise ServerUnavailable(f"no {self.user!r} user to run the server as") from exc
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix=f"private-{type(self).__name__.lower()}-")
                         if root is None else root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def _as_user(self, command: list[str]) -> list[str]:
        return command if self.user is None else ["runuser", "-u", self.user, "--", *command]

    def remove(self) -> None:
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_exc) -> None:
        self.close()

    def start(self):
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder (Debian's layout, else ``PATH``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerUnavailable("no initdb/pg_ctl: install the PostgreSQL server package")


class PrivatePostgres(_Server):
    """``with PrivatePostgres() as pg: pg.create_database("x")`` ... ``pg.restart(down_s=2)``.

    Trust authentication for user ``postgres`` on 127.0.0.1 only; fsync is off (a fast or
    immediate stop of this server is safe with it, a machine crash is not a concern here)."""

    service_user = "postgres"

    def __init__(self, root: Path | None = None, port: int | None = None):
        self.bin = postgres_bin()
        super().__init__(root)
        self.port = port or free_port()
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_path = self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(self._as_user([str(self.bin / args[0]), *args[1:]]),
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> PrivatePostgres:
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
            self.sockets.mkdir(exist_ok=True)
            self._chown(self.sockets)
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every connection and shuts down cleanly; ``immediate`` is a crash."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_s: float = 0.0, mode: str = "fast") -> None:
        """Stop, stay down ``down_s`` seconds (clients meet refused connections), start."""
        self.stop(mode)
        time.sleep(down_s)
        self.start()

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (a restart changes it)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def create_database(self, name: str) -> str:
        """A new database; its SQLAlchemy URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            self.remove()


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class PrivateRabbitMQ(_Server):
    """A RabbitMQ node of its own (its name, AMQP and distribution ports, database, logs and
    configuration under the temporary root; the machine's /etc/rabbitmq files are not read).
    Its queues and persistent messages survive :meth:`restart`, as on a real broker."""

    service_user = "rabbitmq"

    def __init__(self, root: Path | None = None, port: int | None = None):
        server = RABBITMQ_SERVER if RABBITMQ_SERVER.exists() else shutil.which("rabbitmq-server")
        if server is None:
            raise ServerUnavailable("no rabbitmq-server: install the RabbitMQ server package")
        self.server = Path(server)
        super().__init__(root)
        self.port = port or free_port()
        self.dist_port = free_port()
        self.node = f"private-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = self.root / "server.log"
        self.process: subprocess.Popen | None = None
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "log.console = false\nlog.file.level = info\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[].\n")
        for name in ("rabbitmq.conf", "rabbitmq-env.conf", "enabled_plugins"):
            self._chown(self.root / name)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        root = str(self.root)
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": root,  # the Erlang cookie is made here
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": f"{root}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{root}/advanced.config",
            "RABBITMQ_CONF_ENV_FILE": f"{root}/rabbitmq-env.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{root}/enabled_plugins",
            "RABBITMQ_MNESIA_BASE": f"{root}/mnesia",
            "RABBITMQ_LOG_BASE": f"{root}/log",
            "RABBITMQ_PID_FILE": f"{root}/rabbitmq.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 90.0) -> PrivateRabbitMQ:
        if self.process is not None and self.process.poll() is None:
            return self
        with open(self.log_path, "ab") as log:
            # runuser's environment is exactly this one (-u keeps it; env replaces it).
            command = ["env", "-i", *(f"{k}={v}" for k, v in self._env().items()),
                       str(self.server)]
            self.process = subprocess.Popen(self._as_user(command), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"RabbitMQ did not start; its output:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        """AMQP answers (the listener opens only once the broker has booted)."""
        if not _accepts(self.port):
            return False
        from kombu import Connection

        try:
            with Connection(self.url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            return True
        except Exception:  # not up yet, whichever way it shows
            return False

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown (SIGTERM: clients' connections close); SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()
        deadline = time.monotonic() + 10
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._signal(signal.SIGKILL)  # helpers (erl_child_setup, inet_gethost) left behind

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        try:
            self.stop(timeout=20)
        finally:
            self.remove()
