"""Benchmark 1, "texting in": POST /twilio/inbound under gunicorn, against a floor.

For each database (PostgreSQL, then SQLite):

1. a fresh database, `flask --app wsgi db upgrade`, 2,000 members by bulk insert, and
   the yes/no consultation's summary recorded as texted to every member (as after a
   broadcast), so a bare "YES" has a current consultation;
2. two open consultations made through the staff API: Q1 (yes_no) and Q2 (choice);
3. the floor (bench/floor_app.py: signature check + fixed TwiML) under the same
   gunicorn settings, loaded with the same signed texts, then stopped;
4. Chorus under gunicorn, loaded with distinct signed texts (each MessageSid once);
5. the results API compared with what was sent (a check of the benchmark itself).

The texts are generated per member (15 each, members randomly interleaved) from a
seeded random mix: votes (with or without the code,
👍/👎), vote changes, vote + comment, comments, and HELP. A member's texts are sent in
order and never two at once, as from one phone, so the expected tally is exact.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from . import common, data, floor_app, loadgen
from . import profile as profiler
from .common import log

PATH = "/twilio/inbound"
YES_NO = "Q1"
CHOICE = "Q2"
N_OPTIONS = 4

YES_NO_FORMS = {
    "yes": ["{c} YES", "yes {c}", "{c}: yes", "{c} Yes"],
    "no": ["{c} NO", "no {c}", "{c}: No"],
    "abstain": ["{c} ABSTAIN", "abstain {c}"],
}
BARE_YES_NO = {
    "yes": ["YES", "yes", "Yes!", "👍"],
    "no": ["NO", "no", "No.", "👎"],
    "abstain": ["abstain"],
}
CHOICE_FORMS = ["{c} {n}", "{c}: {n}", "{c} {n}"]
REASONS = [
    "because the library is closer to the bus stop",
    "but only if there is step-free access",
    "as long as the sessions stay free",
    "because evenings are hard for carers",
]
COMMENTS = [
    "The room was too cold at the last meeting",
    "Could we have the papers in large print please",
    "I would like more evening sessions",
    "Thank you for asking us about this",
    "Please think about people who work shifts",
]
HELPS = ["HELP", "help", "Help"]


@dataclass
class Text:
    """One inbound text and what it should do: ("vote", code, choice), ("comment", code,
    None), ("vote_comment", code, choice) or ("help", None, None)."""

    member: int
    body: str
    kind: str
    code: str | None
    choice: str | None


def script(members: int, rounds: int, seed: int = 2024) -> list[Text]:
    """Every member's texts, each member's in order, members randomly interleaved."""
    rng = random.Random(seed)
    per_member = [_member_texts(m, rounds, rng) for m in range(members)]
    slots = [m for m in range(members) for _ in range(rounds)]
    rng.shuffle(slots)
    position = [0] * members
    texts = []
    for m in slots:
        texts.append(per_member[m][position[m]])
        position[m] += 1
    return texts


def _member_texts(m: int, rounds: int, rng: random.Random) -> list[Text]:
    """One member's texts; `current` follows what the replies will be about."""
    current = YES_NO  # Q1's summary was texted to everyone
    voted: dict[str, str] = {}
    texts: list[Text] = []
    for _ in range(rounds):
        roll = rng.random()
        if roll < 0.40:
            kind = "vote"
        elif roll < 0.60:
            kind = "vote_comment"
        elif roll < 0.85:
            kind = "comment"
        else:
            kind = "help"
        if kind == "help":
            texts.append(Text(m, rng.choice(HELPS), "help", None, None))
            continue
        if kind == "comment":
            texts.append(Text(m, rng.choice(COMMENTS), "comment", current, None))
            continue
        code = YES_NO if rng.random() < 0.6 else CHOICE
        choices = ["yes", "no", "abstain"] if code == YES_NO else ["1", "2", "3", "4"]
        before = voted.get(code)
        if before is not None and rng.random() < 0.8:  # mostly a real change of mind
            choices = [c for c in choices if c != before]
        choice = rng.choice(choices)
        bare = code == current and rng.random() < 0.5
        if code == YES_NO:
            body = rng.choice(BARE_YES_NO[choice] if bare else YES_NO_FORMS[choice])
        else:
            body = choice if bare else rng.choice(CHOICE_FORMS).replace("{n}", choice)
        body = body.replace("{c}", rng.choice([code, code.lower()]))
        if kind == "vote_comment":
            body = f"{body} {rng.choice(REASONS)}"
        texts.append(Text(m, body, kind, code, choice))
        voted[code] = choice
        # Every reply about a vote names its consultation, which makes it the current one.
        current = code
    return texts


def twilio_params(text: Text, to: str) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS."""
    sid = "SM" + uuid.uuid4().hex
    return {
        "ToCountry": "GB",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": text.body,
        "FromCountry": "GB",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": common.ACCOUNT_SID,
        "From": data.phone(text.member),
        "ApiVersion": "2010-04-01",
    }


def prepare(texts: list[Text], port: int) -> list[loadgen.Prepared]:
    """Sign and serialise every text for the server on `port` (before the clock starts)."""
    from tests.fake_twilio import sign

    url = f"http://127.0.0.1:{port}{PATH}"
    out = []
    for text in texts:
        params = twilio_params(text, common.TWILIO_FROM)
        body = urlencode(params).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
            "Accept: */*\r\n"
            f"X-Twilio-Signature: {sign(url, params, common.AUTH_TOKEN)}\r\n"
            f"I-Twilio-Idempotency-Token: {uuid.uuid4()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(loadgen.Prepared(head + body, key=text.member))
    return out


def is_twiml(status: int, headers: dict[str, str], body: bytes) -> bool:
    """A TwiML answer with zero or one message."""
    ctype = headers.get("content-type", "")
    return (
        "xml" in ctype
        and body.lstrip().startswith(b"<?xml")
        and b"<Response" in body
        and body.count(b"<Message") <= 1
    )


def expected(texts: list[Text], outcomes: list[loadgen.Outcome]) -> dict[str, Any]:
    """Tallies and comment counts implied by the texts that were answered 200 + TwiML."""
    votes: dict[tuple[int, str], str] = {}
    comments: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    for outcome in sorted(outcomes, key=lambda o: o.index):
        if not outcome.ok:
            continue
        text = texts[outcome.index]
        sent[text.kind] += 1
        if text.kind in ("vote", "vote_comment"):
            before = votes.get((text.member, text.code))
            if before is not None:
                sent["vote_change" if before != text.choice else "vote_same"] += 1
            votes[(text.member, text.code)] = text.choice
        if text.kind in ("comment", "vote_comment"):
            comments[text.code] += 1
    tallies = {
        YES_NO: dict.fromkeys(["yes", "no", "abstain"], 0),
        CHOICE: {str(n): 0 for n in range(1, N_OPTIONS + 1)},
    }
    for (_, code), choice in votes.items():
        tallies[code][choice] += 1
    return {"votes": tallies, "comments": dict(comments), "sent_by_kind": dict(sent)}


def setup(kind: str, members: int, port: int) -> tuple[str, dict[str, str]]:
    """Fresh database with schema, members, and the 'Q1 was texted' rows; return url, env."""
    url = common.fresh_database(kind)
    env = common.base_env(url, port)
    common.run_flask(env, "db", "upgrade")
    data.check_phones(members)
    took = data.insert_members(url, members)
    log(f"  {members} members inserted in {took:.1f}s")
    return url, env


def record_texted(url: str, consultation_id: int, members: int, body: str) -> None:
    """Record Q1's summary as delivered to every member (what a broadcast leaves behind)."""
    from app.models import Message

    ids = dict(
        common_rows(
            url, "select phone, id from member where phone like :p", p=data.PHONE_PREFIX + "%"
        )
    )
    names = ["direction", "member_id", "phone", "body", "kind", "status", "consultation_id"]
    rows = (
        ["out", ids[data.phone(i)], data.phone(i), body, "summary", "delivered", consultation_id]
        for i in range(members)
    )
    data.insert_rows(url, Message.__table__, names, rows)


def common_rows(url: str, sql: str, **params: Any) -> list[tuple]:
    """All rows of a query on the benchmark database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(data._sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def load(
    port: int,
    prepared,
    *,
    warmup: float,
    duration: float,
    cycle: bool,
    pgid: int,
    pg: bool,
    profile: str | None = None,
):
    """Run the load generator; add CPU accounting for client, server and PostgreSQL."""
    busy_before = common.wait_quiet()
    server_pids = loadgen.group_pids(pgid)
    recorders = []
    if profile:
        workers = [pid for pid in server_pids if pid != pgid]
        recorders = profiler.start(workers, warmup + duration, profile)
    pg_before = loadgen.cpu_by_pid(_pg_pids()) if pg else {}
    waits = PgWaits().start() if pg else None
    m0 = loadgen.machine_cpu_seconds()
    s0, t0 = loadgen.process_cpu_seconds(server_pids), time.monotonic()
    result = loadgen.run(
        "127.0.0.1",
        port,
        prepared,
        concurrency=16,
        warmup=warmup,
        duration=duration,
        check=is_twiml,
        cycle=cycle,
    )
    wall = time.monotonic() - t0
    machine_busy = (loadgen.machine_cpu_seconds() - m0) / wall
    summary = result.summary()
    pg_after = loadgen.cpu_by_pid(_pg_pids()) if pg else {}
    if waits is not None:
        summary["pg_backend_states"] = waits.stop()
    pg_cpu = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
    summary["cpu_share"] = {
        "client": round(result.client_cpu / wall, 2),
        "gunicorn": round((loadgen.process_cpu_seconds(server_pids) - s0) / wall, 2),
        "postgres": round(pg_cpu / wall, 2) if pg else None,
        "machine": round(machine_busy, 2),
    }
    # Whatever else ran on the machine meanwhile (other people's tests...): if this is
    # large, the run was disturbed and its numbers are low.
    cpu = summary["cpu_share"]
    ours = cpu["client"] + cpu["gunicorn"] + (cpu["postgres"] or 0.0)
    cpu["others"] = round(max(0.0, machine_busy - ours), 2)
    cpu["others_before"] = busy_before
    if recorders:
        summary["profile"] = profiler.finish(recorders)
    return result, summary


class PgWaits:
    """Samples what the benchmark database's backends are doing, every 50 ms."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> PgWaits:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        """Stop (bounded join) and return state/wait-event counts, largest first."""
        self._stop.set()
        self._thread.join(5)
        return dict(self.counts.most_common(12))

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                rows = conn.execute(
                    "select state, wait_event_type, wait_event from pg_stat_activity"
                    " where datname = %s and pid <> pg_backend_pid()",
                    (common.PG_DATABASE,),
                ).fetchall()
                for state, wtype, wevent in rows:
                    if state == "active":
                        key = f"active:{wtype}:{wevent}" if wtype else "active:on-cpu"
                    else:
                        key = state or "?"
                    self.counts[key] += 1


def _pg_pids() -> list[int]:
    """Backends of the benchmark database, plus PostgreSQL's WAL writer and checkpointer."""
    rows = common.pg_rows(
        "select pid from pg_stat_activity where datname = %s"
        " or backend_type in ('walwriter', 'checkpointer', 'background writer')",
        (common.PG_DATABASE,),
    )
    return [r[0] for r in rows]


DISTURBED = 0.25  # cores used by other processes during a measurement
ATTEMPTS = 3


def measure(port: int, prepared: list[loadgen.Prepared], *, cycle: bool, **kwargs: Any):
    """`load`, repeated (at most ATTEMPTS times) while other processes on the machine took
    more than DISTURBED cores during it; the least disturbed attempt is reported.

    Without `cycle` each attempt continues with the texts not yet sent, and the returned
    LoadResult holds every attempt's outcomes (for the correctness check).
    """
    offset = 0
    everything = loadgen.LoadResult()
    best: dict[str, Any] | None = None
    for attempt in range(1, ATTEMPTS + 1):
        result, summary = load(port, prepared[offset:], cycle=cycle, **kwargs)
        if not cycle:
            for outcome in result.outcomes:
                outcome.index += offset
            offset += len(result.outcomes)
        everything.outcomes.extend(result.outcomes)
        summary["attempt"] = attempt
        others = summary["cpu_share"]["others"]
        if best is None or others < best["cpu_share"]["others"]:
            best = summary
        if others <= DISTURBED or offset >= len(prepared):
            break
        log(f"  disturbed: others used {others:.2f} cores during the run; measuring again")
    return everything, best


def run_one(
    kind: str,
    *,
    members: int,
    rounds: int,
    warmup: float,
    duration: float,
    profile: bool = False,
    with_write: bool = True,
    pair_only: bool = False,
) -> dict:
    """The floor and Chorus on one database; returns the numbers and the correctness check.

    On PostgreSQL Chorus runs twice back to back, its fast path reading with SQL text
    (as shipped: "chorus") and with SQLAlchemy Core ("chorus_core"); "fast_path_sql"
    puts the two side by side. `pair_only` runs just that pair (no floors).
    """
    out: dict[str, Any] = {"database": kind}
    texts = script(members, rounds)
    reads = ["text", "core"] if kind == "postgresql" else ["text"]
    with common.processes() as procs:
        if not pair_only:
            # The floor first, under identical gunicorn settings, on the same texts; then
            # (for reference, not a target) the floor plus one durable write per text.
            for name in ("floor", "floor_write"):
                if name == "floor_write" and not with_write:
                    continue
                out[name] = _floor(procs, name, kind, texts, warmup=warmup, duration=duration)

        for read in reads:
            suffix = "" if read == "text" else "_core"
            chorus = _chorus(
                procs,
                kind,
                texts,
                members=members,
                warmup=warmup,
                duration=duration,
                profile=profile,
                read=read,
            )
            out["chorus_redis"] = chorus.pop("redis")
            out["check" + suffix] = chorus.pop("check")
            out["server_log_tail" + suffix] = chorus.pop("server_log_tail")
            out["chorus" + suffix] = chorus["summary"]
        if len(reads) == 2:
            out["fast_path_sql"] = pair(out["chorus"], out["chorus_core"])
            log(f"  fast path read, text vs core: {out['fast_path_sql']}")

        if not pair_only:
            # The floor again: this machine's speed drifts by 10-20% within minutes, so
            # the ratio is taken against the mean of the floor measured before and after.
            out["floor_after"] = _floor(
                procs, "floor_after", kind, texts, warmup=warmup, duration=duration
            )
            floors = [out["floor"]["rps"], out["floor_after"]["rps"]]
            out["floor_mean_rps"] = round(sum(floors) / 2, 1)
            if out["floor_mean_rps"]:
                out["ratio"] = round(out["chorus"]["rps"] / out["floor_mean_rps"], 3)
    common.drop_database(kind)
    return out


def pair(text: dict[str, Any], core: dict[str, Any]) -> dict[str, Any]:
    """The text and Core runs side by side: rps and latencies, and Core's difference in
    percent of text (positive: Core answered more texts per second)."""
    keys = ("rps", "p50_ms", "p99_ms", "errors")
    return {
        "text": {k: text.get(k) for k in keys},
        "core": {k: core.get(k) for k in keys},
        "core_vs_text_pct": (
            round(100 * (core["rps"] - text["rps"]) / text["rps"], 1) if text["rps"] else None
        ),
    }


def _chorus(
    procs: common.Procs,
    kind: str,
    texts: list[Text],
    *,
    members: int,
    warmup: float,
    duration: float,
    profile: bool,
    read: str,
) -> dict[str, Any]:
    """Chorus on a fresh `kind` database, its fast path reading with `read` ("text" or
    "core"): the load summary, the correctness check and the server's last lines."""
    port = common.free_port()
    url, env = setup(kind, members, port)
    redis = common.redis_available()
    if redis:
        # As deployed: with Redis the web workers only answer requests (the sweeper
        # runs in `flask worker`); without it each web worker also sweeps.
        common.fresh_redis()
        env["REDIS_URL"] = common.REDIS_URL
    env["FAST_PATH_SQL"] = read
    name = f"chorus-{kind}" + ("" if read == "text" else f"-{read}")
    web = procs.start(name, common.gunicorn_argv("bench.fast_path_app:app", port), env)
    common.wait_port(port, proc=web.popen)
    api = data.Api(f"http://127.0.0.1:{port}", common.api_token(env))
    for payload in (data.yes_no(YES_NO), data.choice(CHOICE)):
        api.call("POST", "/consultations", 201, json=payload)
        api.call("POST", f"/consultations/{payload['code']}/open", 200)
    q1 = common_rows(url, "select id from consultation where code = :c", c=YES_NO)[0][0]
    record_texted(url, q1, members, data.yes_no(YES_NO)["summary"]["en"])
    log(f"  {name}: signing {len(texts)} texts")
    prepared = prepare(texts, port)
    log(f"  {name}: up to {duration:.0f}s at 16 connections")
    result, summary = measure(
        port,
        prepared,
        warmup=warmup,
        duration=duration,
        cycle=False,
        pgid=web.pid,
        pg=kind == "postgresql",
        profile=(f"inbound-{kind}" + ("" if read == "text" else f"-{read}")) if profile else None,
    )
    log(f"  {name}: { {k: v for k, v in summary.items() if k != 'profile'} }")
    check = verify(api, url, texts, result)
    log(f"  check: {check['verdict']}")
    api.close()
    tail = web.tail(15)
    web.stop()
    return {"summary": summary, "check": check, "server_log_tail": tail, "redis": redis}


def _floor(
    procs: common.Procs, name: str, kind: str, texts: list[Text], *, warmup: float, duration: float
) -> dict[str, Any]:
    """Measure the floor ("floor", "floor_after") or the floor + one durable write
    ("floor_write", on a fresh `kind` database) under Chorus's gunicorn settings."""
    floor_port = common.free_port()
    floor_env = common.base_env("sqlite://", floor_port)
    if name == "floor_write":
        floor_url = common.fresh_database(kind)
        floor_app.create_table(floor_url)
        floor_env["FLOOR_DATABASE_URL"] = floor_url
    floor = procs.start(
        f"{name}-{kind}", common.gunicorn_argv("bench.floor_app:app", floor_port), floor_env
    )
    common.wait_port(floor_port, proc=floor.popen)
    log(f"  {name}: signing {len(texts)} texts")
    prepared = prepare(texts, floor_port)
    log(f"  {name}: {duration:.0f}s at 16 connections")
    _, summary = measure(
        floor_port,
        prepared,
        warmup=warmup,
        duration=duration,
        cycle=True,
        pgid=floor.pid,
        pg=name == "floor_write" and kind == "postgresql",
    )
    floor.stop()
    log(f"  {name}: {summary}")
    return summary


def verify(api: data.Api, url: str, texts: list[Text], result: loadgen.LoadResult) -> dict:
    """Compare the results API and the stored inbound messages with what was sent."""
    want = expected(texts, result.outcomes)
    got_votes, got_comments = {}, {}
    for code in (YES_NO, CHOICE):
        res = api.call("GET", f"/consultations/{code}/results", 200)
        got_votes[code] = {k: int(v) for k, v in res["votes"].items()}
        got_comments[code] = int(res["comments"])
    answered = sum(1 for o in result.outcomes if o.status == 200)
    stored_in = common_rows(url, "select count(*) from message where direction = 'in'")[0][0]
    problems = []
    for code in (YES_NO, CHOICE):
        if got_votes[code] != want["votes"][code]:
            problems.append(f"{code} votes: API {got_votes[code]} != sent {want['votes'][code]}")
        if got_comments[code] != want["comments"].get(code, 0):
            problems.append(
                f"{code} comments: API {got_comments[code]} != sent {want['comments'].get(code, 0)}"
            )
    if stored_in != answered:
        problems.append(f"{stored_in} inbound messages stored for {answered} answered requests")
    return {
        "verdict": "OK" if not problems else "MISMATCH",
        "problems": problems,
        "texts_answered": answered,
        "texts_unanswered_or_bad": len(result.outcomes) - sum(o.ok for o in result.outcomes),
        "sent_by_kind": want["sent_by_kind"],
        "votes_api": got_votes,
        "votes_sent": want["votes"],
        "comments_api": got_comments,
        "comments_sent": want["comments"],
        "inbound_messages_stored": stored_in,
    }


def run(
    *, quick: bool, databases: list[str], profile: bool = False, pair_only: bool = False
) -> dict:
    """Benchmark 1 on each database in `databases` (`pair_only`: only PostgreSQL's
    text/Core pair of Chorus runs, no floors)."""
    members = 2000
    rounds, warmup, duration = (4, 1.0, 5.0) if quick else (15, 3.0, 20.0)
    results = {"members": members, "rounds": rounds, "warmup_s": warmup, "duration_s": duration}
    for kind in databases:
        log(f"inbound on {kind}")
        results[kind] = run_one(
            kind,
            members=members,
            rounds=rounds,
            warmup=warmup,
            duration=duration,
            profile=profile,
            pair_only=pair_only,
        )
    return results
