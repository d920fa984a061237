"""Reading the console's results, assisted-vote and outcome pages in tests, and making
members and votes for them quickly."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

from sqlalchemy import select

from app.domain import comments, votes
from app.extensions import db
from app.models import Consultation, Member


def text(response) -> str:
    """The response's body as text."""
    return response.get_data(as_text=True)


def tally_table(page: str) -> dict[str, int]:
    """{choice: votes} from the results table (`data-count` and the cell's own text)."""
    found = {}
    for choice, count, shown in re.findall(
        r'<tr data-choice="([^"]+)"><th[^>]*>[^<]*</th>'
        r'<td class="num" data-count="(\d+)">([^<]*)</td>',
        page,
    ):
        assert shown.replace(",", "") == count
        found[choice] = int(count)
    return found


def chart_bars(page: str) -> dict[str, tuple[int, float]]:
    """{choice: (count, bar width)} from the SVG chart."""
    svg = page[page.index("<svg") : page.index("</svg>")]
    found = {}
    for group in re.findall(r'<g data-choice="[^"]+">.*?</g>', svg, re.S):
        choice = re.search(r'data-choice="([^"]+)"', group).group(1)
        bar = re.search(r'<rect class="bar"[^>]*width="([\d.]+)"[^>]*data-count="(\d+)"', group)
        found[choice] = (int(bar.group(2)), float(bar.group(1)))
    return found


def public_tally(page: str) -> dict[str, int]:
    """{choice: votes} from the public page's table."""
    return {
        choice: int(n.replace(",", ""))
        for choice, n in re.findall(r'<td class="n" data-choice="([^"]+)">([\d,]+)</td>', page)
    }


def breakdown(page: str, kind: str) -> dict[str, dict[str, int]]:
    """{row key: {choice: n, "total": n, "comments": n}} from a breakdown table."""
    start = page.index(f'<table data-breakdown="{kind}">')
    table = page[start : page.index("</table>", start)]
    rows = {}
    for key, cells in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', table, re.S):
        row = {c: int(n) for c, n in re.findall(r'data-choice="([^"]+)">(\d+)<', cells)}
        total = re.search(r'data-total="(\d+)"', cells)
        if total:
            row["total"] = int(total.group(1))
        row["comments"] = int(re.search(r'data-comments="(\d+)"', cells).group(1))
        rows[html.unescape(key)] = row
    return rows


def rule_sentences(page: str) -> list[str]:
    """The sentences under "Decision rule"."""
    start = page.index("<h2>Decision rule</h2>")
    block = page[start : page.index("</ul>", start)]
    return [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", block)]


def read_csv(response) -> list[dict[str, str]]:
    """A CSV download as rows of dicts."""
    return list(csv.DictReader(io.StringIO(text(response))))


def add_vote(app, code: str, phone: str, choice: str, channel: str = "web") -> None:
    """A vote through the domain's record_vote (as the personal page records one)."""
    with app.app_context():
        consultation = db.session.execute(
            select(Consultation).where(Consultation.code == code)
        ).scalar_one()
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        votes.record_vote(consultation, member, choice, channel=channel)
        db.session.commit()


def add_comment(app, code: str, phone: str, body: str, channel: str = "web", **kw: Any) -> int:
    """A comment through the domain's comments.add; returns its id."""
    with app.app_context():
        consultation = db.session.execute(
            select(Consultation).where(Consultation.code == code)
        ).scalar_one()
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        comment = comments.add(
            consultation_id=consultation.id,
            member_id=member.id,
            body=body,
            channel=channel,
            language=kw.get("language", member.language),
        )
        db.session.commit()
        return comment.id


def national(phone: str) -> str:
    """+447400200001 -> '07400 200001', as a member might say it."""
    assert phone.startswith("+44")
    digits = "0" + phone[3:]
    return f"{digits[:5]} {digits[5:]}"
