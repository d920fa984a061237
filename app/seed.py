"""The demo community for `make run`. Safe to run again: it adds only what is missing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from . import accounts, audit
from .extensions import db
from .models import Consultation, Member, Outcome, StaffRole, Vote, VoteChange, utcnow

MEMBERS = [
    ("+447400100001", "Amira", "ar", ["community"]),
    ("+447400100002", "Bethan", "cy", ["community", "allies"]),
    ("+447400100003", "Carlos", "es", ["community"]),
    ("+447400100004", "Delphine", "fr", ["community"]),
    ("+447400100005", "Eduardo", "pt", ["community"]),
    ("+447400100006", "Franciszek", "pl", ["community"]),
    ("+447400100007", "Gabriela", "ro", ["community"]),
    ("+447400100008", "Hamza", "ur", ["community"]),
    ("+447400100009", "Ishita", "bn", ["community"]),
    ("+447400100010", "Jo", "en", ["community", "allies"]),
    ("+447400100011", "Kit", "en", ["staff"]),
    ("+447400100012", "Lee", "en", ["community"]),
]

OPEN = {
    "code": "P12",
    "kind": "yes_no",
    "title": {
        "en": "Open the community garden on Sundays",
        "cy": "Agor yr ardd gymunedol ar ddydd Sul",
        "es": "Abrir el huerto comunitario los domingos",
        "ar": "فتح الحديقة المجتمعية أيام الأحد",
    },
    "summary": {
        "en": "Should the community garden open 10-4 on Sundays, staffed by volunteers?",
        "cy": "A ddylai'r ardd gymunedol agor 10-4 ar ddydd Sul, gyda gwirfoddolwyr?",
        "es": "¿Abrimos el huerto comunitario los domingos de 10 a 4, con voluntarios?",
        "ar": "هل نفتح الحديقة المجتمعية أيام الأحد من 10 إلى 4 بمتطوعين؟",
    },
    "body": {
        "en": "The garden is closed on Sundays. Volunteers have offered to open it from "
        "10am to 4pm. It would cost about £15 a week for insurance. Staff will decide with "
        "your replies in mind.",
    },
    "audience": ["community"],
    "decision_by": "community",
    "quorum": 5,
    "threshold": 0.5,
}

CLOSED = {
    "code": "P11",
    "kind": "choice",
    "title": {"en": "Where should the spring meeting be?"},
    "summary": {"en": "Where should the spring members' meeting be held?"},
    "options": [
        {"label": {"en": "Library", "cy": "Llyfrgell"}},
        {"label": {"en": "Community centre", "cy": "Canolfan gymunedol"}},
        {"label": {"en": "Online", "cy": "Ar-lein"}},
    ],
    "audience": [],
    "decision_by": "community",
    "quorum": None,
    "threshold": None,
}


def seed() -> str:
    """Add the demo members and consultations that are not there yet; say what was added."""
    now = utcnow()
    added = 0
    members: dict[str, Member] = {}
    for phone, name, language, groups in MEMBERS:
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar()
        if member is None:
            member = Member(
                phone=phone,
                name=name,
                language=language,
                status="active",
                consent_at=now,
                consent_source="demo",
            )
            member.set_groups(groups)
            db.session.add(member)
            added += 1
        members[phone] = member
    db.session.flush()

    if db.session.execute(select(Consultation).where(Consultation.code == "P11")).scalar() is None:
        closed = Consultation(**CLOSED, status="decided", opened_at=now - timedelta(days=20))
        closed.closed_at = now - timedelta(days=6)
        db.session.add(closed)
        db.session.flush()
        for i, (phone, *_rest) in enumerate(MEMBERS[:7]):
            choice = str(i % 3 + 1)
            vote = Vote(
                consultation_id=closed.id,
                member_id=members[phone].id,
                choice=choice,
                channel="sms",
                receipt=f"DEMO{i:02d}",
            )
            db.session.add(vote)
            db.session.flush()
            db.session.add(VoteChange(vote_id=vote.id, choice=choice, channel="sms"))
        db.session.add(
            Outcome(
                consultation_id=closed.id,
                text={
                    "en": "The spring meeting will be at the community centre on 12 April. "
                    "Most of you chose it, and it has step-free access."
                },
                decided_by="community vote",
            )
        )
        audit.record("seed", "consultation.decided", "consultation", "P11")
        added += 1

    if db.session.execute(select(Consultation).where(Consultation.code == "P12")).scalar() is None:
        opened = Consultation(
            **OPEN, status="open", opened_at=now, closes_at=now + timedelta(days=14)
        )
        db.session.add(opened)
        audit.record("seed", "consultation.opened", "consultation", "P12")
        added += 1

    db.session.commit()
    return f"demo data: {added} new records" if added else "demo data already present"


DEMO_ADMIN = "admin@example.org"


def demo_admin() -> tuple[str, str]:
    """The demo's admin account, made if missing, with a new password each time (only a
    hash is kept, so `make run` can show a password only by setting one)."""
    password = accounts.generate_password()
    account = accounts.find(DEMO_ADMIN)
    if account is None:
        accounts.create(DEMO_ADMIN, StaffRole.ADMIN, password, actor="seed", name="Demo admin")
    else:
        accounts.enable(account, actor="seed")
        accounts.set_password(account, password, actor="seed")
        accounts.set_role(account, StaffRole.ADMIN, actor="seed")
    return DEMO_ADMIN, password
