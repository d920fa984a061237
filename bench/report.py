"""The Markdown summary `python -m bench.run` prints (pasted into docs/benchmarks.md)."""

from __future__ import annotations

import os
from typing import Any


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")


def machine_md(m: dict[str, Any]) -> list[str]:
    """The machine block."""
    return [
        f"- Date: {m['date']} (commit {m['git']})",
        f"- CPU: {m['cpu']}, `nproc` = {m['nproc']}; memory {m['memory']}",
        f"- Python {m['python']}, {m['postgresql']}, {m['redis']}, SQLite {m['sqlite']}",
        f"- gunicorn {m['gunicorn']}, Flask {m['flask']}, SQLAlchemy {m['sqlalchemy']}, "
        f"Linux {m['kernel']}",
        "",
        "```",
        "$ free -h",
        m["free_h"],
        "```",
    ]


def inbound_md(r: dict[str, Any]) -> list[str]:
    """The inbound table."""
    lines = [
        f"### Inbound: POST /twilio/inbound ({r['members']} members, 16 connections, "
        f"{r['duration_s']:.0f} s after {r['warmup_s']:.0f} s warm-up)",
        "",
        "| database | app | requests | rps | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| CPU client / gunicorn / postgres / others |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind in ("postgresql", "sqlite"):
        if kind not in r:
            continue
        one = r[kind]
        for app in ("floor", "floor_write", "chorus", "chorus_core", "floor_after"):
            s = one.get(app)
            if not s:
                continue
            cpu = s.get("cpu_share", {})
            cpu_txt = " / ".join(
                "-" if cpu.get(k) is None else f"{cpu[k]:.2f}"
                for k in ("client", "gunicorn", "postgres", "others")
            )
            label = {
                "floor_write": "floor + 1 write",
                "floor_after": "floor, again",
                "chorus_core": "chorus, Core read",
            }.get(app, app)
            if app == "chorus" and one.get("chorus_redis"):
                label = "chorus (with Redis)"
            lines.append(
                f"| {kind} | {label} | {s['requests']} | {s['rps']} | {s.get('p50_ms')} | "
                f"{s.get('p90_ms')} | {s.get('p99_ms')} | {s.get('max_ms')} | {s['errors']} "
                f"| {cpu_txt} |"
            )
    rated = [k for k in ("postgresql", "sqlite") if r.get(k, {}).get("ratio") is not None]
    if rated:  # not when only the text/Core pair ran
        lines += [
            "",
            "| database | Chorus / mean of the two floors | p99 < 50 ms | zero errors | check |",
            "|---|---:|---|---|---|",
        ]
    for kind in rated:
        one = r[kind]
        ratio = one.get("ratio")
        check = one.get("check", {})
        lines.append(
            f"| {kind} | {ratio:.0%} ({_yes(ratio >= 0.5)} >= 50%) | "
            f"{_yes(one['chorus'].get('p99_ms', 1e9) < 50)} | "
            f"{_yes(one['chorus']['errors'] == 0)} | {check.get('verdict')} |"
        )
    duo = r.get("postgresql", {}).get("fast_path_sql")
    if duo:
        lines += [
            "",
            "Fast path read on PostgreSQL, run back to back (FAST_PATH_SQL):",
            "",
            "| read | rps | p50 ms | p99 ms | errors | check |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for read, check in (("text", "check"), ("core", "check_core")):
            one = duo[read]
            verdict = r["postgresql"].get(check, {}).get("verdict")
            lines.append(
                f"| {read} | {one['rps']} | {one['p50_ms']} | {one['p99_ms']} | {one['errors']} "
                f"| {verdict} |"
            )
        pct = duo["core_vs_text_pct"]
        lines += [
            "",
            f"Core vs text: {pct:+.1f}% texts/s"
            + (" (within 5%)" if abs(pct) <= 5 else " (more than 5% apart)")
            if pct is not None
            else "Core vs text: n/a",
        ]
    for kind, key in (("postgresql", "check"), ("postgresql", "check_core"), ("sqlite", "check")):
        check = r.get(kind, {}).get(key)
        if not check:
            continue
        if key == "check_core":
            kind += " (Core read)"
        lines.append("")
        lines.append(
            f"{kind} check: {check['texts_answered']} texts answered "
            f"({', '.join(f'{k} {v}' for k, v in sorted(check['sent_by_kind'].items()))}); "
            f"votes sent {check['votes_sent']}, results API {check['votes_api']}; "
            f"comments sent {check['comments_sent']}, API {check['comments_api']}; "
            f"{check['inbound_messages_stored']} inbound messages stored."
        )
        for problem in check["problems"]:
            lines.append(f"- PROBLEM: {problem}")
    return lines


def outbound_md(r: dict[str, Any]) -> list[str]:
    """The outbound tables."""
    cap = r["cap_segments_per_second"]
    lines = [
        f"### Outbound: broadcasts (cap {cap} segments/s, FakeTwilio answers after "
        f"{r['fake_latency_s'] * 1000:.0f} ms)",
        "",
    ]
    seq = r.get("sequential")
    if seq:
        lines += [
            f"Sequential floor (one call at a time): {seq['per_second']} texts/s "
            f"({seq['texts']} texts in {seq['seconds']} s).",
            "",
        ]
    runs = [(p, r[p]) for p in ("steady", "kill", "kill-no-callbacks") if p in r]
    if runs:
        lines += [
            "| run | members | segments/s | share of cap | busiest 1 s | longest gap s "
            "| lost | duplicated | in flight at kill | broadcast call ms | status "
            "| CPU ours / others |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for name, s in runs:
            if "error" in s:
                lines.append(f"| {name} | ERROR: {s['error']} |")
                continue
            status = s.get("broadcast_status", {})
            lines.append(
                f"| {name} | {s['members']} | {s.get('segments_per_second')} | "
                f"{s.get('cap_share', 0):.1%} | {s.get('busiest_1s_segments')} | "
                f"{s.get('longest_gap_s')} | {s['lost']} | {s['duplicated']} | "
                f"{s.get('in_flight_at_kill', '-')} | {s['broadcast_call_ms']} | "
                f"{status.get('status')} (sent {status.get('sent')}, delivered "
                f"{status.get('delivered')}) | {s.get('cpu_cores', {}).get('ours')} / "
                f"{s.get('cpu_cores', {}).get('others')} |"
            )
        lines.append("")
        steady = r.get("steady", {})
        if "cap_share" in steady:
            lines.append(
                f"- steady: >= 95% of the cap {_yes(steady['cap_share'] >= 0.95)}; zero lost "
                f"and zero duplicated {_yes(steady['lost'] == 0 and steady['duplicated'] == 0)}"
            )
        for name in ("kill", "kill-no-callbacks"):
            kill = r.get(name, {})
            if "lost" in kill and "in_flight_at_kill" in kill:
                lines.append(
                    f"- {name}: zero lost {_yes(kill['lost'] == 0)}; duplicates "
                    f"({kill['duplicated']}) <= in flight at the kill "
                    f"({kill['in_flight_at_kill']}) "
                    f"{_yes(kill['duplicated'] <= kill['in_flight_at_kill'])}"
                )
                for note in kill.get("notes", []):
                    lines.append(f"  - {note}")
            elif "lost" in kill:
                lines.append(f"- {name}: the worker was never killed (the broadcast ended first)")
    call = r.get("call")
    if call:
        if "error" in call:
            lines.append(f"- broadcast call: ERROR {call['error']}")
        else:
            lines.append(
                f"- broadcast call for {call['members']:,} members: "
                f"{', '.join(f'{t:.0f}' for t in call['calls_ms'])} ms "
                f"(under 1 s {_yes(call['target_met'])})"
            )
    mem = r.get("memory")
    if mem:
        if "error" in mem:
            lines.append(f"- worker memory: ERROR {mem['error']}")
        else:
            lines.append(
                f"- worker memory expanding {mem['members']:,} members: peak VmHWM "
                f"{mem['peak_vmhwm_mb']} MB (baseline {mem['worker_baseline_rss_mb']} MB; "
                f"under 300 MB {_yes(mem['target_met'])}); expansion took "
                f"{mem['expanded_in_s']} s, {mem['message_rows']:,} message rows; "
                f"the broadcast call took {mem['broadcast_call_ms']:.0f} ms"
            )
    return lines


def soak_md(r: dict[str, Any]) -> list[str]:
    """The soak: webhook p99 per minute, memory growth per process, pages, broadcast."""
    lines = [
        f"### Soak: {r['duration_s'] / 60:.0f} minutes, {r['members']} members",
        "",
        f"Inbound maximum (closed loop, 16 connections): {r['max']['rps']} texts/s; soak at "
        f"{r['rate']} texts/s ({r.get('share', 0.5):.0%} of it), open loop, gunicorn with "
        f"{r.get('web_workers', 2)} sync workers; the broadcast "
        f"at {r.get('send_rate', 100):g} segments/s. "
        f"Webhook p99 at most {r['webhook_p99_max_ms']} ms "
        f"(target < 100: {_yes(r['webhook_p99_max_ms'] < 100)}), {r['webhook_errors']} errors. "
        f"Largest memory growth {r['memory_max_growth']:.1%} (target < 10%: "
        f"{_yes(r['memory_max_growth'] is not None and r['memory_max_growth'] < 0.10)}).",
        "",
        "| minute | texts | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for row in r["webhook_by_minute"]:
        lines.append(
            f"| {row['minute']} | {row['texts']} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['errors']} |"
        )
    lines += ["", "| process | MiB, 2nd minute | MiB, last minute | growth |", "|---|---|---|---|"]
    for name, m in r["memory"].items():
        lines.append(f"| {name} | {m['early_mib']} | {m['late_mib']} | {m['growth']:.1%} |")
    pages = ", ".join(f"{p} p99 {v['p99_ms']} ms ({v['n']})" for p, v in r["pages"].items())
    lines += ["", f"Pages: {pages}; {r['page_errors']} errors."]
    if "broadcast" in r:
        b = r["broadcast"]
        lines.append(
            f"Broadcast: {b['status']}, {b['total']} recipients, {b['sent']} sent, "
            f"{b['delivered']} delivered, {b['failed']} failed; FakeTwilio accepted "
            f"{b['accepted_by_fake']} texts in all (by the end of the whole run)."
        )
    if "cpu_cores" in r:
        lines += [
            "",
            f"CPU during the soak (cores busy; the machine has {os.cpu_count()}): "
            + _cores(r["cpu_cores"])
            + ".",
        ]
    if "limit" in r:
        lines += ["", *_limit_md(r["limit"])]
    return lines


def _cores(cores: dict[str, float]) -> str:
    return ", ".join(f"{role} {v:.2f}" for role, v in cores.items())


def _limit_md(limit: dict[str, Any]) -> list[str]:
    """The true limit, found in the same run after the soak at the target rate."""
    steps = "; ".join(
        f"{s['rate']}/s: p99 {s['p99_ms']} ms, {s['errors']} errors, {s['cpu_all']:.2f} cores"
        for s in limit["steps"]
    )
    lines = [
        "#### The limit in the same run (broadcast still sending, pages still loading)",
        "",
        f"Stepping the rate down ({limit['step_s']:.0f} s each, after {limit['drain_s']:.0f} s "
        f"for the backlog to drain): {steps}.",
    ]
    if "rate" not in limit:
        return [*lines, "No step held p99 under 100 ms."]
    lines += [
        "",
        f"Held at {limit['rate']} texts/s for the soak's whole duration: p99 at most "
        f"{limit['held_p99_max_ms']} ms (every minute under 100 ms: {_yes(limit['held'])}), "
        f"{limit['held_errors']} errors; CPU {_cores(limit['cpu_cores'])}.",
        "",
        "| minute | texts | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for row in limit["held_by_minute"]:
        lines.append(
            f"| {row['minute']} | {row['texts']} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['errors']} |"
        )
    return lines


def console_md(console: dict[str, Any]) -> list[str]:
    """Every console page's server time at size."""
    sizes = console["sizes"]
    lines = [
        f"### Staff console ({sizes['members']:,} members, {sizes['messages']:,} messages, "
        f"{sizes['votes']:,} votes; target under {console['target_ms']:.0f} ms)",
        "",
        "| page | status | median ms | max ms |",
        "|---|---|---|---|",
    ]
    for path, page in console["pages"].items():
        lines.append(f"| `{path}` | {page['status']} | {page['median_ms']} | {page['max_ms']} |")
    verdict = "all under target" if console["all_under_target"] else "NOT all under target"
    lines += [
        "",
        f"{verdict}; slowest `{console['slowest']['path']}` ({console['slowest']['max_ms']} ms)",
    ]
    return lines


def member_import_md(r: dict[str, Any]) -> list[str]:
    """The CSV import through the web and a worker."""
    big = r["big_file"]
    return [
        f"### CSV member import ({r['rows']:,} rows, {r['existing_members']:,} members "
        f"already; target under {r['target_s']:.0f} s, requests under "
        f"{r['request_target_s']:.0f} s)",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| upload request ({r['rows']:,} rows) | {r['upload_request_s']} |",
        f"| check job (upload answered -> preview) | {r['check_s']} |",
        f"| confirm request | {r['confirm_request_s']} |",
        f"| confirm -> all {r['members_added']:,} members added | {r['add_s']} |",
        f"| **upload -> done** | **{r['total_s']}** |",
        f"| upload request, {big['rows']:,} rows / {big['bytes'] / 2**20:.1f} MiB "
        f"(median, max of {len(big['request_s'])}) | {big['median_s']}, {big['max_s']} |",
        "",
        f"{r['welcomes_queued']:,} welcome texts queued ({r['welcomes_sent_when_done']:,} "
        "sent by the time the import was done; their sending is not timed). "
        f"Whole import: {_yes(r['under_target'])}; requests: "
        f"{_yes(r['requests_under_target'])}.",
    ]


def markdown(report: dict[str, Any]) -> str:
    """The whole summary."""
    lines = ["## Results", "", *machine_md(report["machine"]), ""]
    if report.get("quick"):
        lines += ["(quick run: smaller sizes, not the published numbers)", ""]
    if "inbound" in report:
        lines += [*inbound_md(report["inbound"]), ""]
    if "outbound" in report:
        lines += [*outbound_md(report["outbound"]), ""]
    if "soak" in report:
        lines += [*soak_md(report["soak"]), ""]
    if "console" in report:
        lines += [*console_md(report["console"]), ""]
    if "member_import" in report:
        lines += [*member_import_md(report["member_import"]), ""]
    for skipped in report.get("skipped", []):
        lines.append(f"- SKIPPED: {skipped}")
    lines.append(f"\n(total {report.get('total_seconds')} s)")
    return "\n".join(lines)
