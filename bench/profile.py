"""Optional sampling profiles of the server processes during a benchmark (`--profile`).

Uses py-spy if it is on PATH or in the venv (`pip install py-spy`; it is deliberately
not a project dependency). Writes collapsed stacks to /tmp/chorus-bench/profiles/ and
summarises them: where the samples were (inclusive, by function) and what was on top
of the stack (self), so a slow benchmark comes with evidence of why.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from .common import VENV_BIN, WORK_DIR, log, which


def py_spy() -> str | None:
    """The py-spy binary, or None."""
    candidate = VENV_BIN / "py-spy"
    return str(candidate) if candidate.exists() else which("py-spy")


def start(pids: list[int], seconds: float, label: str) -> list[tuple[subprocess.Popen, Path]]:
    """Record each pid for `seconds` (non-blocking sampling, 100 Hz, on-CPU stacks only)."""
    binary = py_spy()
    if binary is None:
        log("  --profile: py-spy not found; pip install py-spy into the venv")
        return []
    out_dir = WORK_DIR / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for pid in pids:
        path = out_dir / f"{label}-{pid}.txt"
        proc = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "100",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append((proc, path))
    return started


def finish(
    started: list[tuple[subprocess.Popen, Path]], only: str = "handle_request", top: int = 20
) -> dict:
    """Wait for the recorders (bounded) and summarise their stacks together.

    Samples are on-CPU only (time blocked on PostgreSQL or the network is not sampled;
    the CPU accounting next to the numbers shows how much that is). Only samples whose
    stack contains `only` count (request handling; background threads are left out).
    Shares are of those samples: `app_inclusive_pct` (CPU inside each function of app/,
    callees included), `library_inclusive_pct` (the same for a few libraries) and
    `self_pct` (the frame on top of the stack).
    """
    inclusive: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    files = []
    for proc, path in started:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if not path.exists():
            continue
        files.append(str(path))
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit() or only not in stack:
                continue
            n = int(count)
            total += n
            # py-spy frames look like "function (path/to/file.py:123)"; drop the line.
            frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";") if f]
            if frames:
                leaf[frames[-1]] += n
            for lib in {_library(f) for f in frames} - {None}:
                libraries[lib] += n
            for name in {f for f in frames if "(app/" in f}:
                inclusive[name] += n
    if not total:
        return {"samples": 0, "files": files}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "files": files,
        "app_inclusive_pct": share(inclusive),
        "library_inclusive_pct": share(libraries),
        "self_pct": share(leaf),
    }


LIBRARIES = (
    "sqlalchemy/orm/",
    "sqlalchemy/engine/",
    "sqlalchemy/sql/",
    "psycopg/",
    "flask_babel/",
    "jinja2/",
    "babel/",
    "twilio/",
    "werkzeug/",
    "phonenumbers/",
)


def _library(frame: str) -> str | None:
    for lib in LIBRARIES:
        if f"({lib}" in frame or f"/{lib}" in frame:
            return lib
    return None
