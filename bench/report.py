"""The Markdown summary `python -m bench.run` prints (pasted into docs/benchmarks.md)."""

from __future__ import annotations

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
        "| CPU client / gunicorn / postgres |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind in ("postgresql", "sqlite"):
        if kind not in r:
            continue
        one = r[kind]
        for app in ("floor", "chorus"):
            s = one.get(app)
            if not s:
                continue
            cpu = s.get("cpu_share", {})
            cpu_txt = " / ".join(
                "-" if cpu.get(k) is None else f"{cpu[k]:.2f}"
                for k in ("client", "gunicorn", "postgres")
            )
            lines.append(
                f"| {kind} | {app} | {s['requests']} | {s['rps']} | {s.get('p50_ms')} | "
                f"{s.get('p90_ms')} | {s.get('p99_ms')} | {s.get('max_ms')} | {s['errors']} "
                f"| {cpu_txt} |"
            )
    lines += [
        "",
        "| database | Chorus / floor | p99 < 50 ms | zero errors | check |",
        "|---|---:|---|---|---|",
    ]
    for kind in ("postgresql", "sqlite"):
        if kind not in r or "chorus" not in r[kind]:
            continue
        one = r[kind]
        ratio = one.get("ratio")
        check = one.get("check", {})
        lines.append(
            f"| {kind} | {ratio:.0%} ({_yes(ratio >= 0.5)} >= 50%) | "
            f"{_yes(one['chorus'].get('p99_ms', 1e9) < 50)} | "
            f"{_yes(one['chorus']['errors'] == 0)} | {check.get('verdict')} |"
        )
    for kind in ("postgresql", "sqlite"):
        check = r.get(kind, {}).get("check")
        if not check:
            continue
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
    lines = ["### Outbound: broadcasts through RQ workers and FakeTwilio", ""]
    for part in ("sequential", "steady", "kill"):
        s = r.get(part)
        if not s:
            continue
        lines.append(
            f"- **{part}**: " + ", ".join(f"{k} {v}" for k, v in s.items() if k != "notes")
        )
        for note in s.get("notes", []):
            lines.append(f"  - {note}")
    for part in ("call", "memory"):
        s = r.get(part)
        if s:
            lines.append(
                f"- **{part}**: " + ", ".join(f"{k} {v}" for k, v in s.items() if k != "notes")
            )
            for note in s.get("notes", []):
                lines.append(f"  - {note}")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The whole summary."""
    lines = ["## Results", "", *machine_md(report["machine"]), ""]
    if report.get("quick"):
        lines += ["(quick run: smaller sizes, not the published numbers)", ""]
    if "inbound" in report:
        lines += [*inbound_md(report["inbound"]), ""]
    if "outbound" in report:
        lines += [*outbound_md(report["outbound"]), ""]
    for skipped in report.get("skipped", []):
        lines.append(f"- SKIPPED: {skipped}")
    lines.append(f"\n(total {report.get('total_seconds')} s)")
    return "\n".join(lines)
