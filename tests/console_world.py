"""One of everything the console shows, for tests that visit every page.

`seed_console` makes members, consultations, a broadcast... through the API and the
domain, and returns the values for the staff routes' URL parameters; `console_pages`
lists every GET page of the staff blueprint with those values filled in.
"""

from __future__ import annotations

from sqlalchemy import select

from app import accounts
from app.api.auth import create_token
from app.domain import comments, member_import, votes
from app.extensions import db
from app.models import Broadcast, Consultation, Member, StaffRole
from app.tasks.member_import import check_import

# Routes that are not pages to look at (they act, or answer with a file).
NOT_PAGES = {
    "staff.logout",
    "staff.comments_csv",
    "staff.votes_csv",
    "staff.members_export",
    "staff.member_export",
}


def seed_console(app, world) -> dict[str, str]:
    """Members in two languages, an open and a draft consultation, a broadcast, an
    assisted vote and a comment."""
    phone = world.member(name="Amira", language="ar")
    world.member(name="Jo", language="en", groups=["community", "allies"])
    world.consultation("P1", options=None)
    world.consultation("P2", "choice", options=["Parks", "Écoles"], open_=False)
    with app.app_context():
        broadcast = Broadcast(kind="announcement", bodies={"en": "hello"}, status="completed")
        db.session.add(broadcast)
        db.session.commit()
        broadcast_id = str(broadcast.id)
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        p1 = db.session.execute(select(Consultation).where(Consultation.code == "P1")).scalar_one()
        vote = votes.record_assisted(p1, member, "yes", actor="staff:test", method="paper")
        comments.add(
            consultation_id=p1.id, member_id=member.id, body="شكرا", channel="sms", language="ar"
        )
        someone = accounts.create("someone@example.org", "viewer", "a long password!", actor="t")
        token, _secret = create_token("someone's token", StaffRole.VIEWER)
        db.session.commit()
        vote_id = str(vote.vote.id)
        account_id, token_id, member_id = str(someone.id), str(token.id), str(member.id)
        upload = member_import.create_import(
            b"phone,name,language,groups\n07400 555123,Nia,cy,community\nnonsense,X,en,\n",
            "members.csv",
            actor="staff:test",
        )
        import_id = upload.id
        db.session.commit()
        check_import(import_id)  # the job: a preview, its rows kept
        extra = {
            "account_id": account_id,
            "token_id": token_id,
            "member_id": member_id,
            "import_id": str(import_id),
        }
    return {
        "code": "P1",
        "phone": phone,
        "broadcast_id": broadcast_id,
        "vote_id": vote_id,
        **extra,
    }


def console_pages(app, values: dict[str, str]) -> list[str]:
    """The path of every GET page of the staff console, parameters filled from `values`."""
    paths = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("staff.") or "GET" not in rule.methods:
            continue
        if rule.endpoint in NOT_PAGES:
            continue
        missing = [name for name in rule.arguments if name not in values]
        assert not missing, f"{rule.rule}: seed_console must give a value for {missing}"
        paths.append(rule.build({name: values[name] for name in rule.arguments})[1])
    return sorted(set(paths))
