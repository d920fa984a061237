"""Run the benchmarks: `make bench`, or `python -m bench.run [--only NAME] [--quick]`
(`--fast-path-pair`: only the fast path's PostgreSQL read, SQL text against Core).

Prints a Markdown summary on stdout (progress goes to stderr) and writes every number
to bench/results/bench-DATE.json. Needs nothing but this repository's venv for the
SQLite parts; PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 are used when
they answer (override with BENCH_PG_ADMIN / BENCH_REDIS_URL), and what had to be
skipped without them is said at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from . import common
from .common import log


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run what was asked, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--only",
        choices=("inbound", "outbound", "soak", "console", "member_import"),
        help="run one benchmark",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument(
        "--db",
        choices=("postgresql", "sqlite"),
        action="append",
        help="inbound: database(s) to run on (default: both, PostgreSQL when reachable)",
    )
    parser.add_argument(
        "--part",
        action="append",
        choices=("steady", "kill", "kill-no-callbacks", "call", "memory"),
        help="outbound: run only these parts (default: all)",
    )
    parser.add_argument(
        "--fast-path-pair",
        action="store_true",
        help="inbound: only the fast path's PostgreSQL read, SQL text vs Core (no floors)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the Chorus web workers with py-spy during the inbound load",
    )
    parser.add_argument(
        "--soak-share",
        type=float,
        default=0.5,
        help="soak: texts in at this share of the measured maximum (default 0.5)",
    )
    parser.add_argument(
        "--soak-send-rate",
        type=float,
        default=10.0,
        help="soak: the broadcast's SMS_MAX_PER_SECOND (default 10, the product's default)",
    )
    parser.add_argument(
        "--no-soak-limit",
        action="store_true",
        help="soak: only the target rate (skip finding the rate whose p99 stays under 100 ms)",
    )
    args = parser.parse_args(argv)

    with common.exclusive_run():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    pg, redis = common.pg_available(), common.redis_available()
    report: dict[str, Any] = {"machine": common.machine(), "quick": args.quick, "skipped": []}
    log(f"machine: {json.dumps({k: v for k, v in report['machine'].items() if k != 'free_h'})}")

    if args.only in (None, "inbound"):
        from . import inbound

        databases = ["postgresql"] if args.fast_path_pair else args.db or ["postgresql", "sqlite"]
        if "postgresql" in databases and not pg:
            databases = [d for d in databases if d != "postgresql"]
            report["skipped"].append(
                f"inbound on PostgreSQL: nothing answers at {common.PG_ADMIN_URL}"
            )
        report["inbound"] = inbound.run(
            quick=args.quick,
            databases=databases,
            profile=args.profile,
            pair_only=args.fast_path_pair,
        )

    if args.only in (None, "outbound") and not args.fast_path_pair:
        if not (pg and redis):
            missing = [n for n, ok in (("PostgreSQL", pg), ("Redis", redis)) if not ok]
            report["skipped"].append(
                f"outbound (needs PostgreSQL + Redis): {' and '.join(missing)} not reachable"
            )
        else:
            from . import outbound

            report["outbound"] = outbound.run(quick=args.quick, parts=args.part)

    if args.only in (None, "soak"):
        if not (pg and redis):
            report["skipped"].append("soak (needs PostgreSQL + Redis)")
        else:
            from . import soak

            report["soak"] = soak.run(
                quick=args.quick,
                share=args.soak_share,
                send_rate=args.soak_send_rate,
                limit=not args.no_soak_limit,
            )

    if args.only in (None, "console") and not args.fast_path_pair:
        if not pg:
            report["skipped"].append("console (needs PostgreSQL)")
        else:
            from . import console

            report["console"] = console.run(quick=args.quick)

    if args.only in (None, "member_import") and not args.fast_path_pair:
        if not (pg and redis):
            report["skipped"].append("member_import (needs PostgreSQL + Redis)")
        else:
            from . import member_import

            report["member_import"] = member_import.run(quick=args.quick)

    report["total_seconds"] = round(time.monotonic() - began, 1)
    path = common.save_results("bench", report)
    from .report import markdown

    print(markdown(report))
    log(f"all numbers: {path.relative_to(common.ROOT)}")
    for line in report["skipped"]:
        log(f"SKIPPED {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
