"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams.

Requests are fully serialised (signature included) before the clock starts, so the
client's per-request cost is a write and a header parse. N connections each send one
request at a time and wait for the whole answer (closed loop: the offered load is as
much as the server can take at N outstanding requests). Keep-alive is used whenever
the server allows it; gunicorn's sync workers close after every answer, so the
connection is reopened then (that cost is inside the measured latency, as it would be
for Twilio).

Bounded twice: the run stops at `duration` seconds after warm-up or when the request
list is used up, whichever is first, and every request has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from .common import percentile

REQUEST_TIMEOUT = 30.0


@dataclass
class Prepared:
    """One ready-to-send request: the bytes on the wire, and who sent it (for ordering)."""

    raw: bytes
    key: Hashable | None = None


@dataclass
class Outcome:
    """What happened to one request."""

    index: int
    started: float
    latency: float
    status: int  # HTTP status; 0 for a transport error or timeout
    ok: bool  # 200 and the body passed the check
    error: str | None = None


@dataclass
class LoadResult:
    """A finished run: every outcome, and the timed window's statistics."""

    outcomes: list[Outcome] = field(default_factory=list)
    window_start: float = 0.0
    window_end: float = 0.0
    exhausted: bool = False
    client_cpu: float = 0.0

    def timed(self) -> list[Outcome]:
        """Outcomes of requests started inside the timed window."""
        return [o for o in self.outcomes if self.window_start <= o.started < self.window_end]

    def summary(self) -> dict[str, Any]:
        """requests, rps, p50/p90/p99/max (ms), errors and their kinds, for the timed window."""
        timed = self.timed()
        if not timed:
            return {"requests": 0, "rps": 0.0, "errors": 0}
        last_done = max(o.started + o.latency for o in timed)
        elapsed = max(last_done - self.window_start, 1e-9)
        lat = sorted(o.latency * 1000 for o in timed)
        errors = [o for o in timed if not o.ok]
        kinds: dict[str, int] = {}
        for o in errors:
            kind = o.error or f"HTTP {o.status}"
            kinds[kind] = kinds.get(kind, 0) + 1
        return {
            "requests": len(timed),
            "seconds": round(elapsed, 2),
            "rps": round(len(timed) / elapsed, 1),
            "p50_ms": round(percentile(lat, 50), 2),
            "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2),
            "errors": len(errors),
            "error_kinds": kinds,
            "exhausted_request_list": self.exhausted,
            "client_cpu_s": round(self.client_cpu, 2),
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
        headers["connection"] = "close"
    return status, headers, body


async def _run(
    host: str,
    port: int,
    requests: list[Prepared],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    check: Callable[[int, dict[str, str], bytes], bool],
    cycle: bool,
) -> LoadResult:
    result = LoadResult()
    loop = asyncio.get_running_loop()
    next_index = 0
    last_of_key: dict[Hashable, asyncio.Future] = {}
    began = time.perf_counter()
    result.window_start = began + warmup
    result.window_end = result.window_start + duration

    async def connection() -> None:
        nonlocal next_index
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while time.perf_counter() < result.window_end:
                if next_index >= len(requests) and not cycle:
                    result.exhausted = True
                    return
                index = next_index
                next_index += 1
                request = requests[index % len(requests)]
                mine: asyncio.Future | None = None
                if request.key is not None:
                    # One sender's texts are answered in the order they were sent: wait for
                    # the previous one from the same member before sending the next.
                    previous = last_of_key.get(request.key)
                    mine = loop.create_future()
                    last_of_key[request.key] = mine
                    if previous is not None:
                        await previous
                started = time.perf_counter()
                status, error, ok = 0, None, False
                try:
                    if writer is None:
                        reader, writer = await asyncio.wait_for(
                            asyncio.open_connection(host, port), REQUEST_TIMEOUT
                        )
                    writer.write(request.raw)
                    status, headers, body = await asyncio.wait_for(
                        _read_response(reader), REQUEST_TIMEOUT
                    )
                    ok = status == 200 and check(status, headers, body)
                    if status == 200 and not ok:
                        error = "bad body"
                    if headers.get("connection", "").lower() == "close":
                        writer.close()
                        reader = writer = None
                except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                    error = type(exc).__name__
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                latency = time.perf_counter() - started
                result.outcomes.append(Outcome(index, started, latency, status, ok, error))
                if mine is not None:
                    mine.set_result(None)
        finally:
            if writer is not None:
                writer.close()

    cpu0 = time.process_time()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.client_cpu = time.process_time() - cpu0
    return result


def run(
    host: str,
    port: int,
    requests: list[Prepared],
    *,
    concurrency: int = 16,
    warmup: float = 3.0,
    duration: float = 20.0,
    check: Callable[[int, dict[str, str], bytes], bool] = lambda s, h, b: True,
    cycle: bool = False,
) -> LoadResult:
    """Send `requests` in order over `concurrency` connections; see the module docstring.

    With `cycle`, the list is reused from the start when used up (for a server that
    does not care whether a request repeats); otherwise running out ends the run.
    """
    return asyncio.run(
        _run(
            host,
            port,
            requests,
            concurrency=concurrency,
            warmup=warmup,
            duration=duration,
            check=check,
            cycle=cycle,
        )
    )


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime+stime in seconds of each of these processes that is still alive."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: list[int]) -> float:
    """utime+stime of these processes (those still alive), in seconds."""
    return sum(cpu_by_pid(pids).values())


def group_pids(pgid: int) -> list[int]:
    """Pids of every process in process group `pgid`."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                pids.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def named_pids(comm: str) -> list[int]:
    """Pids whose command name is `comm` (read-only; used to account PostgreSQL's CPU)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as fh:
                if fh.read().strip() == comm:
                    pids.append(int(name))
        except OSError:
            continue
    return pids
