"""Micro-benchmarks for the speed claims the test suite used to time: `python -m bench.micro`.

* **grammar**: `parse` per message on a typical inbound mix (target ~50 µs, well under
  a millisecond) and on a 2,000-character text (well under 2 ms: no regex that
  backtracks out of control).
* **fake twilio**: requests per second FakeTwilio answers from 32 clients with 50 ms
  latency (the outbound benchmark needs it well above the send rate, >= 300/s).

Prints one line per measurement with its target; not part of `make bench` (it needs
no database and runs in seconds). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import requests

from app.domain.grammar import parse
from tests.fake_twilio import FakeTwilio

MIX = [
    "yes",
    "P12 no",
    "yes but only if it's weekends",
    "STOP",
    "نعم",
    "হ্যাঁ, কিন্তু শুধু সপ্তাহান্তে",
    "lang cymraeg",
    "The lift in block C is broken again and nobody has come to fix it",
    "👍🏽",
    "abstian",
]
LONG = "yes, " + "the bins on Elm Road are never collected on time " * 40


def per_parse(texts: list[str], rounds: int) -> float:
    """Seconds per `parse` call over `rounds` passes through `texts` (after one warm-up)."""
    for text in texts:
        parse(text)
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            parse(text)
    return (time.perf_counter() - started) / (rounds * len(texts))


def fake_twilio_rps(clients: int = 32, per_client: int = 10, latency: float = 0.05) -> float:
    """Requests per second a FakeTwilio with `latency` answers from `clients` threads."""
    with FakeTwilio(latency=latency) as fake:
        url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
        auth = (fake.account_sid, fake.auth_token)
        codes: list[int] = []

        def send(i: int) -> None:
            with requests.Session() as session:
                for j in range(per_client):
                    data = {"To": f"+1500555{i:04d}", "From": "+15005550006", "Body": f"{i}-{j}"}
                    codes.append(session.post(url, data=data, auth=auth, timeout=5).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    if codes != [201] * (clients * per_client):
        raise RuntimeError(f"FakeTwilio answered {sorted(set(codes))}")
    return clients * per_client / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the micro-benchmarks and print them against their targets."""
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.parse_args(argv)
    results = [
        ("grammar: parse, typical mix", per_parse(MIX, 300) * 1e6, "µs/message", 500, "<"),
        ("grammar: parse, 2,000 characters", per_parse([LONG], 100) * 1e6, "µs", 2000, "<"),
        ("fake twilio: 32 clients, 50 ms latency", fake_twilio_rps(), "requests/s", 300, ">="),
    ]
    missed = 0
    for name, value, unit, target, op in results:
        met = value < target if op == "<" else value >= target
        missed += not met
        print(f"{name}: {value:.0f} {unit} (target {op} {target}: {'met' if met else 'NOT met'})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
