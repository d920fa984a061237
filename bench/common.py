"""Shared plumbing for the benchmarks: machine facts, databases, child processes, reports.

Every process started here is started in its own session and stopped by its own
process-group id; nothing else on the machine is touched. All traffic is to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = Path(os.environ.get("BENCH_TMP", "/tmp/chorus-bench"))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "chorus_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

ACCOUNT_SID = "AC" + "b3e4c1" * 5 + "00"
AUTH_TOKEN = "bench-auth-token-" + "5" * 15
TWILIO_FROM = "+447400999999"


def log(message: str) -> None:
    """Progress on stderr, with a clock."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    free = _version(["free", "-h"])
    free_full = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    pg = "not reachable"
    if pg_available():
        pg = pg_scalar("select version()").split(" on ")[0]
    redis = "not reachable"
    if redis_available():
        import redis as redis_lib

        info = redis_lib.Redis.from_url(REDIS_URL).info("server")
        redis = f"Redis {info['redis_version']}"
    import flask
    import gunicorn
    import sqlalchemy

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "free_h": free_full or free,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "redis": redis,
        "sqlite": __import__("sqlite3").sqlite_version,
        "gunicorn": gunicorn.__version__,
        "flask": flask.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }


def machine_busy(seconds: float = 2.0) -> float:
    """Cores busy on the whole machine over the next `seconds` (from /proc/stat)."""
    from .loadgen import machine_cpu_seconds

    before = machine_cpu_seconds()
    time.sleep(seconds)
    return (machine_cpu_seconds() - before) / seconds


def wait_quiet(threshold: float = 0.3, max_wait: float | None = None) -> float:
    """Wait (at most `max_wait` s) until under `threshold` cores are busy; return the last
    reading. Other people's work on a shared machine would otherwise be in our numbers."""
    if max_wait is None:
        max_wait = float(os.environ.get("BENCH_QUIET_WAIT", "180"))
    deadline = time.monotonic() + max_wait
    busy = machine_busy()
    while busy > threshold and time.monotonic() < deadline:
        log(f"  machine busy ({busy:.2f} cores in use by others); waiting for quiet")
        time.sleep(5)
        busy = machine_busy()
    return round(busy, 2)


# --------------------------------------------------------------------------- services


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def pg_available() -> bool:
    """True when PostgreSQL answers at BENCH_PG_ADMIN (default 127.0.0.1:5432, user postgres)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def pg_scalar(sql: str) -> Any:
    """One value from the admin database."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
        return conn.execute(sql).fetchone()[0]


def pg_rows(sql: str, params: tuple = ()) -> list[tuple]:
    """All rows of a query on the admin database (used to find our backends' pids)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
        return conn.execute(sql, params).fetchall()


@contextlib.contextmanager
def exclusive_run(max_wait: float | None = None) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named after our database and Redis db for the run.

    Two runs with the same BENCH_PG_DATABASE / BENCH_REDIS_URL would drop each other's
    database and flush each other's queues; the second one waits here (at most
    BENCH_LOCK_WAIT seconds, default 1800) instead. Without PostgreSQL it does nothing.
    """
    if not pg_available():
        yield
        return
    import psycopg

    if max_wait is None:
        max_wait = float(os.environ.get("BENCH_LOCK_WAIT", "1800"))
    key = f"chorus-bench:{PG_DATABASE}:{REDIS_URL}"
    conn = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    try:
        deadline = time.monotonic() + max_wait
        while not conn.execute("select pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"another benchmark run holds {PG_DATABASE} / {REDIS_URL}; set "
                    "BENCH_PG_DATABASE and BENCH_REDIS_URL to run beside it"
                )
            log(f"  another benchmark run is using {PG_DATABASE} / {REDIS_URL}; waiting")
            time.sleep(10)
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def redis_available() -> bool:
    """True when Redis answers at BENCH_REDIS_URL (default 127.0.0.1:6379/14)."""
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def fresh_redis() -> None:
    """FLUSHDB our own Redis db number (never another)."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def pg_url(database: str = PG_DATABASE) -> str:
    """URL of a benchmark database on the admin server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def fresh_database(kind: str) -> str:
    """Drop and recreate the benchmark database; return its DATABASE_URL."""
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        return pg_url()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
    return f"sqlite:///{path}"


def drop_database(kind: str) -> None:
    """Remove the benchmark database after a run."""
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def base_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment Chorus processes run with in a benchmark."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "SMS_", "REDIS_", "DATABASE_", "QUIET_", "PUBLIC_"))
    }
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="bench-" + secrets.token_hex(8),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM=TWILIO_FROM,
        QUIET_HOURS="",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Proc:
    """A child process in its own session, with its output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """The child's pid (also its process-group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while it runs."""
        return self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the child's whole process group (it and anything it forked)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `timeout`."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                self.popen.wait(5)
        # A SIGKILLed parent can leave forked children in the group: clean them too.
        self.kill_group(signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Procs:
    """The children of one benchmark; `stop_all` ends each by its own id."""

    started: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], stdout: int | None = None
    ) -> Proc:
        """Start `argv` in its own session, logging to WORK_DIR/logs/NAME.log."""
        logs = WORK_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        fh = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=stdout if stdout is not None else fh,
            stderr=fh,
            start_new_session=True,
        )
        fh.close()
        proc = Proc(name, popen, log_path)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every child, newest first."""
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()


@contextlib.contextmanager
def processes() -> Iterator[Procs]:
    """A Procs that is always cleaned up."""
    procs = Procs()
    try:
        yield procs
    finally:
        procs.stop_all()


def flask_cmd(*args: str) -> list[str]:
    """`flask --app wsgi ARGS` from this venv."""
    return [str(VENV_BIN / "flask"), "--app", "wsgi", *args]


def run_flask(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run a flask command to completion; return stdout, raise with its output on failure."""
    out = subprocess.run(
        flask_cmd(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def gunicorn_argv(app: str, port: int, workers: int = 2) -> list[str]:
    """The one gunicorn command line both the floor and Chorus run under."""
    return [
        str(VENV_BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        app,
    ]


def api_token(env: dict[str, str]) -> str:
    """A staff API token from `flask --app wsgi api-token create bench` (its last line)."""
    return run_flask(env, "api-token", "create", "bench").strip().splitlines()[-1].strip()


def save_results(name: str, data: dict[str, Any]) -> Path:
    """Write results JSON to bench/results/NAME-DATE.json (git-ignored) and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0..100) of already-sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def which(name: str) -> str | None:
    """shutil.which, for optional tools."""
    return shutil.which(name)
