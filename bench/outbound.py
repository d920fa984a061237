"""Benchmark 2, "texting out": broadcasts through RQ workers to FakeTwilio.

Parts (each on a fresh PostgreSQL database and a flushed Redis db of its own):

* sequential -- the floor: one Twilio call at a time through the real twilio client,
  against FakeTwilio answering after 150 ms.
* steady -- FakeTwilio (own process, 150 ms, status callbacks on), SMS_MAX_PER_SECOND=100,
  gunicorn for the API and the callbacks, two `flask --app wsgi worker`; a broadcast to
  5,000 members. Rate = segments per second between the first and the last send as
  FakeTwilio recorded them; lost / duplicated = FakeTwilio's accepted list against the
  members.
* kill -- the same, with one worker's process group SIGKILLed when a third of the texts
  were accepted, and a new worker started a second later.
* call -- how long `POST /consultations/{code}/broadcast` takes for 100,000 members
  (no worker runs, so nothing is sent; Redis is flushed after).
* memory -- peak RSS (VmHWM) of the worker process(es) while one worker expands a
  1,000,000-member audience; the worker is stopped once the expansion is done.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from itertools import pairwise
from typing import Any

import requests

from . import common, data
from .common import log

CAP = 100  # SMS_MAX_PER_SECOND
LATENCY = 0.15
CODE = "B1"


def start_fake(procs: common.Procs, name: str, callbacks: bool = True) -> tuple[str, Any]:
    """FakeTwilio in its own process; returns its base URL and the Proc."""
    port = common.free_port()
    argv = [
        str(common.VENV_BIN / "python"),
        "-m",
        "tests.fake_twilio",
        "--port",
        str(port),
        "--latency",
        str(LATENCY),
        "--account-sid",
        common.ACCOUNT_SID,
        "--auth-token",
        common.AUTH_TOKEN,
    ]
    if callbacks:
        argv.append("--callbacks")
    proc = procs.start(name, argv, common.base_env("sqlite://", 0))
    common.wait_port(port, proc=proc.popen)
    return f"http://127.0.0.1:{port}", proc


def fake_get(base: str, what: str) -> Any:
    """GET /_fake/<what> from a FakeTwilio process."""
    return requests.get(f"{base}/_fake/{what}", timeout=60).json()


# --------------------------------------------------------------------------- sequential


def sequential(n: int) -> dict[str, Any]:
    """One send at a time through twilio's client: the rate with no concurrency at all."""
    from twilio.rest import Client

    with common.processes() as procs:
        base, _ = start_fake(procs, "fake-sequential", callbacks=False)
        client = Client(common.ACCOUNT_SID, common.AUTH_TOKEN)
        client.api.base_url = base
        client.messages.create(to=data.phone(0), from_=common.TWILIO_FROM, body="warm-up")
        began = time.perf_counter()
        for i in range(n):
            client.messages.create(to=data.phone(i), from_=common.TWILIO_FROM, body=f"text {i}")
        elapsed = time.perf_counter() - began
    return {"texts": n, "seconds": round(elapsed, 2), "per_second": round(n / elapsed, 2)}


# --------------------------------------------------------------------------- broadcasts


class Stack:
    """Fresh database + Redis, members, FakeTwilio, gunicorn and N workers."""

    def __init__(
        self,
        procs: common.Procs,
        label: str,
        members: int,
        workers: int,
        callbacks: bool = True,
        **env: str,
    ):
        self.procs = procs
        self.label = label
        common.fresh_redis()
        self.url = common.fresh_database("postgresql")
        self.port = common.free_port()
        self.fake_url = ""
        if env.pop("FAKE", "1") == "1":
            self.fake_url, _ = start_fake(procs, f"fake-{label}", callbacks=callbacks)
        self.env = common.base_env(
            self.url,
            self.port,
            REDIS_URL=common.REDIS_URL,
            TWILIO_API_BASE_URL=self.fake_url or "http://127.0.0.1:9",
            SMS_MAX_PER_SECOND=str(CAP),
            **env,
        )
        common.run_flask(self.env, "db", "upgrade")
        data.check_phones(members)
        took = data.insert_members(self.url, members)
        log(f"  {members} members inserted in {took:.1f}s")
        self.web = procs.start(
            f"web-{label}", common.gunicorn_argv("wsgi:app", self.port), self.env
        )
        common.wait_port(self.port, proc=self.web.popen)
        self.api = data.Api(f"http://127.0.0.1:{self.port}", common.api_token(self.env))
        self.workers: list[common.Proc] = []
        for _ in range(workers):
            self.start_worker()

    def start_worker(self) -> common.Proc:
        """One more `flask --app wsgi worker`."""
        n = len(self.workers) + 1
        proc = self.procs.start(f"worker-{self.label}-{n}", common.flask_cmd("worker"), self.env)
        self.workers.append(proc)
        return proc

    def consultation(self, code: str) -> None:
        """Create and open a yes/no consultation through the API."""
        self.api.call("POST", "/consultations", 201, json=data.yes_no(code))
        self.api.call("POST", f"/consultations/{code}/open", 200)

    def broadcast(self, code: str) -> tuple[dict[str, Any], float]:
        """POST the broadcast; return its answer and how long the call took (s)."""
        began = time.perf_counter()
        answer = self.api.call("POST", f"/consultations/{code}/broadcast", 202, timeout=120)
        return answer, time.perf_counter() - began

    def status(self, broadcast_id: Any) -> dict[str, Any]:
        """GET /broadcasts/{id}."""
        return self.api.call("GET", f"/broadcasts/{broadcast_id}", 200)

    def close(self) -> None:
        """Close the API session (the processes are stopped by their Procs)."""
        self.api.close()


class CpuMeter:
    """CPU used by our processes, by PostgreSQL's backends and by everything else."""

    def __init__(self, procs: common.Procs) -> None:
        self.procs = procs

    def _ours(self) -> dict[int, float]:
        from .loadgen import cpu_by_pid, group_pids

        self.role: dict[int, str] = getattr(self, "role", {})
        for proc in self.procs.started:
            # "fake-steady" -> fake, "web-kill" -> web, "worker-kill-2" -> worker
            for pid in group_pids(proc.pid):
                self.role[pid] = proc.name.split("-", 1)[0]
        rows = common.pg_rows(
            "select pid from pg_stat_activity where datname = %s"
            " or backend_type in ('walwriter', 'checkpointer', 'background writer')",
            (common.PG_DATABASE,),
        )
        for (pid,) in rows:
            self.role[pid] = "postgres"
        return cpu_by_pid(list(self.role))

    def start(self) -> CpuMeter:
        """Take the first reading."""
        from .loadgen import machine_cpu_seconds

        self.t0, self.m0, self.ours0 = time.monotonic(), machine_cpu_seconds(), self._ours()
        return self

    def stop(self) -> dict[str, float]:
        """Cores used since `start`: ours (processes we started + the database), others."""
        from .loadgen import machine_cpu_seconds

        wall = time.monotonic() - self.t0
        machine = (machine_cpu_seconds() - self.m0) / wall
        now = self._ours()
        by_role: dict[str, float] = {}
        for pid, value in now.items():
            role = self.role.get(pid, "?")
            by_role[role] = by_role.get(role, 0.0) + (value - self.ours0.get(pid, 0.0)) / wall
        ours = sum(by_role.values())
        return {
            **{role: round(v, 2) for role, v in sorted(by_role.items())},
            "ours": round(ours, 2),
            "machine": round(machine, 2),
            "others": round(max(0.0, machine - ours), 2),
        }


def analyse(
    messages: list[dict[str, Any]], members: int, kill_at: float | None = None
) -> dict[str, Any]:
    """Rate, cap, lost and duplicated texts from FakeTwilio's accepted list."""
    wanted = {data.phone(i) for i in range(members)}
    counts = Counter(m["to"] for m in messages)
    lost = sorted(wanted - set(counts))
    duplicated = {to: n for to, n in counts.items() if n > 1}
    strays = sorted(set(counts) - wanted)
    out: dict[str, Any] = {
        "accepted": len(messages),
        "lost": len(lost),
        "duplicated": sum(n - 1 for n in duplicated.values()),
        "strays": len(strays),
    }
    if len(messages) >= 2:
        ordered = sorted(messages, key=lambda m: m["received_at"])
        span = ordered[-1]["received_at"] - ordered[0]["received_at"]
        segments = sum(int(m["num_segments"]) for m in ordered)
        # Segments sent after the first send, over the time since it: rate between sends.
        rate = (segments - int(ordered[0]["num_segments"])) / span if span > 0 else 0.0
        starts = [m["received_at"] for m in ordered]
        # The busiest one-second window, to show the cap is also never exceeded.
        busiest, j = 0, 0
        seg_prefix = [0]
        for m in ordered:
            seg_prefix.append(seg_prefix[-1] + int(m["num_segments"]))
        for i in range(len(ordered)):
            while starts[i] - starts[j] >= 1.0:
                j += 1
            busiest = max(busiest, seg_prefix[i + 1] - seg_prefix[j])
        gaps = [b - a for a, b in pairwise(starts)]
        out.update(
            longest_gap_s=round(max(gaps), 2),
            segments=segments,
            segments_per_text=sorted(Counter(int(m["num_segments"]) for m in ordered).items()),
            first_to_last_s=round(span, 2),
            segments_per_second=round(rate, 2),
            texts_per_second=round((len(ordered) - 1) / span, 2) if span > 0 else 0.0,
            cap_share=round(rate / CAP, 3),
            busiest_1s_segments=busiest,
        )
    if kill_at is not None:
        # In flight at the kill: FakeTwilio had the request but the worker could not yet
        # have stored the answer (answered less than 50 ms before the kill, or later).
        out["in_flight_at_kill"] = sum(
            1 for m in messages if m["received_at"] <= kill_at <= m["accepted_at"] + 0.05
        )
        out["duplicates_detail"] = [
            {
                "to": to,
                "received_at_rel_kill": [
                    round(m["received_at"] - kill_at, 3) for m in messages if m["to"] == to
                ],
            }
            for to in list(duplicated)[:20]
        ]
    if lost:
        out["lost_sample"] = lost[:10]
    return out


def wait_done(
    stack: Stack,
    broadcast_id: Any,
    expected: int,
    timeout: float,
    on_progress=None,
    poll: float = 1.0,
) -> dict[str, Any]:
    """Poll until the broadcast is completed and FakeTwilio has seen no new text for 5 s.

    Bounded by `timeout`. `on_progress(accepted)` is called at every poll.
    """
    deadline = time.monotonic() + timeout
    last_accepted, last_change = -1, time.monotonic()
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        accepted = fake_get(stack.fake_url, "stats")["accepted"]
        if accepted != last_accepted:
            last_accepted, last_change = accepted, time.monotonic()
        if on_progress is not None:
            on_progress(accepted)
        status = stack.status(broadcast_id)
        quiet = time.monotonic() - last_change
        if status.get("status") in ("completed", "cancelled") and quiet > 5:
            return {"final_status": status, "timed_out": False}
        if accepted >= expected and quiet > 30:
            return {"final_status": status, "timed_out": False, "note": "status not completed"}
        time.sleep(poll)
    return {"final_status": status, "timed_out": True}


def broadcast_run(members: int, *, kill: bool, callbacks: bool = True) -> dict[str, Any]:
    """A broadcast to `members` with two workers; optionally kill one a third of the way.

    Without `callbacks`, FakeTwilio sends no status callbacks, so a text the killed worker
    had handed to Twilio without recording it can only be resolved by the worker's own
    recovery (the harder case: Twilio's callbacks can be late or lost).
    """
    label = ("kill" if kill else "steady") + ("" if callbacks else "-no-callbacks")
    with common.processes() as procs:
        stack = Stack(procs, label, members, workers=2, callbacks=callbacks)
        try:
            stack.consultation(CODE)
            meter = CpuMeter(procs).start()
            t0 = time.monotonic()
            answer, call_s = stack.broadcast(CODE)
            log(f"  broadcast {answer} answered in {call_s * 1000:.0f} ms")
            kill_at: list[float] = []
            notes: list[str] = []

            def progress(accepted: int) -> None:
                if kill and not kill_at and accepted >= members // 3:
                    victim = stack.workers[0]
                    kill_at.append(time.monotonic())
                    victim.kill_group()
                    log(f"  SIGKILLed worker group {victim.pid} at {accepted} accepted")
                    time.sleep(1.0)
                    fresh = stack.start_worker()
                    notes.append(
                        f"worker {victim.pid} SIGKILLed (process group) at {accepted} "
                        f"accepted; worker {fresh.pid} started 1 s later"
                    )

            timeout = members / CAP * 3 + 300
            done = wait_done(
                stack,
                answer["broadcast_id"],
                members,
                timeout,
                on_progress=progress,
                poll=0.1 if kill else 1.0,
            )
            cpu = meter.stop()
            drained = None
            if callbacks:
                # Status callbacks still arriving: how long until every text is delivered.
                waited = time.monotonic()
                while time.monotonic() - waited < 60:
                    status = stack.status(answer["broadcast_id"])
                    if status.get("delivered", 0) >= status.get("sent", 0):
                        drained = round(time.monotonic() - waited, 1)
                        break
                    time.sleep(0.5)
            messages = fake_get(stack.fake_url, "messages")
            out = analyse(messages, members, kill_at[0] if kill_at else None)
            out["cpu_cores"] = cpu
            out["callbacks_drained_after_s"] = drained
            if messages:
                first = min(m["received_at"] for m in messages)
                last = max(m["received_at"] for m in messages)
                out["call_to_first_send_s"] = round(first - t0, 2)
                out["call_to_last_send_s"] = round(last - t0, 2)
            out.update(
                callbacks=callbacks,
                members=members,
                recipients=answer.get("recipients"),
                broadcast_call_ms=round(call_s * 1000, 1),
                broadcast_status=stack.status(answer["broadcast_id"]),
                timed_out=done["timed_out"],
                notes=notes + ([done["note"]] if "note" in done else []),
            )
            for worker in stack.workers:
                out.setdefault("worker_log_tails", {})[worker.name] = worker.tail(8)
            return out
        finally:
            stack.close()
            common.fresh_redis()


# --------------------------------------------------------------------------- call time


def call_time(members: int, repeats: int = 3) -> dict[str, Any]:
    """Time the broadcast call against `members` members with no worker running."""
    with common.processes() as procs:
        stack = Stack(procs, "call", members, workers=0, FAKE="0")
        try:
            times = []
            answers = []
            for n in range(repeats):
                code = f"C{n + 1}"
                stack.consultation(code)
                answer, took = stack.broadcast(code)
                times.append(took * 1000)
                answers.append(answer)
            return {
                "members": members,
                "calls_ms": [round(t, 1) for t in times],
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "recipients": [a.get("recipients") for a in answers],
                "target_met": max(times) < 1000,
            }
        finally:
            stack.close()
            common.fresh_redis()


# --------------------------------------------------------------------------- memory


class MemoryWatch:
    """Samples VmHWM / VmRSS of every process in some process groups, every 50 ms."""

    def __init__(self) -> None:
        self.groups: list[int] = []
        self.peak: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> MemoryWatch:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (bounded join)."""
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        from .loadgen import group_pids

        while not self._stop.wait(0.05):
            for pgid in list(self.groups):
                for pid in group_pids(pgid):
                    self._sample(pid)

    def _sample(self, pid: int) -> None:
        try:
            with open(f"/proc/{pid}/status") as fh:
                status = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return
        fields = {}
        for line in status.splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0]) // 1024
        entry = self.peak.setdefault(pid, {"cmd": cmd[:120], "VmHWM_MB": 0, "VmRSS_MB": 0})
        entry["VmHWM_MB"] = max(entry["VmHWM_MB"], fields.get("VmHWM", 0))
        entry["VmRSS_MB"] = max(entry["VmRSS_MB"], fields.get("VmRSS", 0))


def memory(members: int) -> dict[str, Any]:
    """Peak RSS of a worker expanding a `members`-strong audience; stop once expanded."""
    with common.processes() as procs:
        stack = Stack(procs, "memory", members, workers=0)
        watch = MemoryWatch().start()
        try:
            stack.consultation(CODE)
            worker = stack.start_worker()
            watch.groups.append(worker.pid)
            time.sleep(3)  # let the worker start, so its baseline is in the samples
            baseline = max((p["VmRSS_MB"] for p in watch.peak.values()), default=0)
            began = time.monotonic()
            answer, call_s = stack.broadcast(CODE)
            log(f"  broadcast {answer} answered in {call_s * 1000:.0f} ms; watching the worker")
            expanded_s = None
            deadline = began + 1800
            broadcast_id = answer["broadcast_id"]
            while time.monotonic() < deadline:
                row = common_row(
                    stack.url,
                    "select expanded_at is not null, status from broadcast where id = :id",
                    id=int(broadcast_id),
                )
                if row and row[0]:
                    expanded_s = time.monotonic() - began
                    break
                if not worker.alive():
                    break
                time.sleep(0.5)
            time.sleep(2)
            rows = common_row(
                stack.url,
                "select count(*) from message where broadcast_id = :id",
                id=int(broadcast_id),
            )
            sent = fake_get(stack.fake_url, "stats")["accepted"]
            worker.stop()
            watch.stop()
            peak = max(watch.peak.values(), key=lambda p: p["VmHWM_MB"], default={})
            return {
                "members": members,
                "recipients": answer.get("recipients"),
                "broadcast_call_ms": round(call_s * 1000, 1),
                "expanded_in_s": None if expanded_s is None else round(expanded_s, 1),
                "message_rows": rows[0] if rows else None,
                "texts_sent_before_stop": sent,
                "worker_baseline_rss_mb": baseline,
                "peak_vmhwm_mb": peak.get("VmHWM_MB"),
                "peak_process": peak.get("cmd"),
                "processes": {str(k): v for k, v in watch.peak.items()},
                "worker_alive_until_stop": expanded_s is not None,
                "target_met": (peak.get("VmHWM_MB") or 1e9) < 300,
                "worker_log_tail": worker.tail(10),
            }
        finally:
            watch.stop()
            stack.close()
            common.fresh_redis()


def common_row(url: str, sql: str, **params: Any) -> tuple | None:
    """The first row of a query on the benchmark database, or None."""
    from .inbound import common_rows

    rows = common_rows(url, sql, **params)
    return rows[0] if rows else None


# --------------------------------------------------------------------------- all


def run(*, quick: bool, parts: list[str] | None) -> dict[str, Any]:
    """Benchmark 2: the parts asked for (default all)."""
    parts = parts or ["steady", "kill", "kill-no-callbacks", "call", "memory"]
    sizes = (
        {"seq": 10, "steady": 1000, "kill": 1000, "call": 10_000, "memory": 100_000}
        if quick
        else {"seq": 30, "steady": 5000, "kill": 5000, "call": 100_000, "memory": 1_000_000}
    )
    out: dict[str, Any] = {"cap_segments_per_second": CAP, "fake_latency_s": LATENCY}
    log("outbound: sequential floor")
    out["sequential"] = sequential(sizes["seq"])
    log(f"  {out['sequential']}")
    for part in parts:
        log(f"outbound: {part}")
        busy = common.wait_quiet()
        try:
            if part == "steady":
                # The rate is the number here: measure again (once) if others took over
                # a quarter of a core meanwhile, and keep the less disturbed run.
                out[part] = broadcast_run(sizes["steady"], kill=False)
                others = out[part].get("cpu_cores", {}).get("others", 0.0)
                if others > 0.25:
                    log(f"  disturbed: others used {others:.2f} cores; measuring again")
                    common.wait_quiet()
                    again = broadcast_run(sizes["steady"], kill=False)
                    again["attempt"] = 2
                    if again.get("cpu_cores", {}).get("others", 0.0) < others:
                        out[part] = again
            elif part == "kill":
                out[part] = broadcast_run(sizes["kill"], kill=True)
            elif part == "kill-no-callbacks":
                out[part] = broadcast_run(sizes["kill"], kill=True, callbacks=False)
            elif part == "call":
                out[part] = call_time(sizes["call"])
            elif part == "memory":
                out[part] = memory(sizes["memory"])
        except Exception as exc:  # one part failing must not hide the others' numbers
            out[part] = {"error": f"{type(exc).__name__}: {exc}"}
        out[part]["others_busy_before"] = busy
        log(f"  {json.dumps(out[part], default=str)[:1500]}")
    common.drop_database("postgresql")
    return out
