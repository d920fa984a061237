"""Queries for the public pages: the decision register, public consultations, receipts.

Everything here is read-only and public: nothing returns a member's phone or name.
Drafts are never public.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import audit
from ..extensions import db
from ..models import AuditHead, Consultation, Vote
from . import consultations as consultations_ops

PUBLIC_STATUSES = ("open", "closed", "decided")
PER_PAGE = 10  # keeps a page of the register under 8 KB with long titles and outcomes
SUMMARY_CHARS = 120
#: How long a verification of the audit chain is reused (seconds): it reads every event.
AUDIT_CHECK_TTL = 60.0
_RECEIPT_NOISE = re.compile(r"[\s\-_.]+")
_RECEIPT_SHAPE = re.compile(r"^[A-Z0-9]{1,12}$")


def pick(texts: dict[str, str] | None, language: str, fallback: str) -> str:
    """The text in `language`, else in `fallback`, else in any language, else ''."""
    texts = texts or {}
    return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def public_consultation(code: str) -> Consultation | None:
    """The consultation with this code (any case) if it is public, i.e. not a draft."""
    consultation = consultations_ops.find(code)
    if consultation is None or consultation.status not in PUBLIC_STATUSES:
        return None
    return consultation


@dataclass
class RegisterPage:
    """One page of the register: its rows (consultation, participants) and paging."""

    rows: list[tuple[Consultation, int]]
    page: int
    pages: int
    total: int


def register(page: int = 1, per_page: int = PER_PAGE) -> RegisterPage:
    """Every public consultation, newest first, one page at a time (4 queries)."""
    public = Consultation.status.in_(PUBLIC_STATUSES)
    total = db.session.execute(
        select(func.count()).select_from(Consultation).where(public)
    ).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    consultations = list(
        db.session.execute(
            select(Consultation)
            .where(public)
            .options(selectinload(Consultation.outcome))  # one query for every row's outcome
            .order_by(Consultation.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    counts = consultations_ops.participant_counts([c.id for c in consultations])
    rows = [(c, counts.get(c.id, 0)) for c in consultations]
    return RegisterPage(rows=rows, page=page, pages=pages, total=total)


def normalise_receipt(text: str) -> str | None:
    """A receipt as stored (upper case, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(text, str):
        return None
    cleaned = _RECEIPT_NOISE.sub("", text).upper()
    return cleaned if _RECEIPT_SHAPE.match(cleaned) else None


def find_receipt(code: str, receipt: str) -> tuple[Consultation, Vote] | None:
    """The public consultation and the vote holding this receipt (any case), or None."""
    consultation = public_consultation(code)
    wanted = normalise_receipt(receipt)
    if consultation is None or wanted is None:
        return None
    vote = db.session.execute(
        select(Vote).where(Vote.consultation_id == consultation.id, Vote.receipt == wanted)
    ).scalar_one_or_none()
    return (consultation, vote) if vote is not None else None


def results(consultation: Consultation) -> dict[str, Any]:
    """The results API's numbers, plus each choice's share of the votes cast (0..1)."""
    answer = consultations_ops.results(consultation)
    cast = sum(answer["votes"].values())
    answer["cast"] = cast
    answer["shares"] = {k: (v / cast if cast else 0.0) for k, v in answer["votes"].items()}
    return answer


@dataclass
class AuditStatus:
    """The head of the audit chain, and (when checked) whether the whole chain holds."""

    events: int
    head: str
    ok: bool | None = None
    checked: int = 0
    problem: str | None = None


def audit_head() -> AuditStatus:
    """The newest event's number and hash (one row read; the chain is not checked)."""
    head = db.session.get(AuditHead, 1)
    if head is None:
        return AuditStatus(events=0, head=audit.GENESIS)
    return AuditStatus(events=head.seq, head=head.hash)


def audit_check() -> AuditStatus:
    """Walk the whole chain (audit.verify), reusing a result younger than AUDIT_CHECK_TTL.

    The check reads every event, so a public page must not run it on every request;
    the cache lives on the app (per process) and is dropped when the head moves.
    """
    status = audit_head()
    ttl = current_app.config.get("AUDIT_CHECK_TTL", AUDIT_CHECK_TTL)
    cache: dict[str, tuple[tuple[int, str], float, AuditStatus]]
    cache = current_app.extensions.setdefault("chorus_audit_check", {})
    key = (status.events, status.head)
    hit = cache.get("value")
    if hit and hit[0] == key and time.monotonic() - hit[1] < ttl:
        return hit[2]
    result = audit.verify()
    status.ok, status.checked, status.problem = result.ok, result.checked, result.problem
    cache["value"] = (key, time.monotonic(), status)
    return status
