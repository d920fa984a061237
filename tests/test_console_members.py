"""The console's members screens: the list (search in any number format, filters,
pages, masking), the member page, add and edit, consent never overridden, the CSV
import (checked by a job, preview, nothing written before confirm, the jobs run twice)
and the export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select

from app.domain import member_import
from app.extensions import db
from app.jobs import jobs
from app.models import (
    AuditEvent,
    ImportStatus,
    Member,
    MemberGroup,
    MemberImport,
    MemberImportRow,
    Message,
    utcnow,
)
from app.tasks import member_import as import_tasks
from app.tasks import outbox as outbox_tasks
from app.tasks.member_import import check_import, check_job_id, resume_stalled, run_import
from tests.staff_helpers import csrf, post, staff_client


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def member_id(world, phone: str) -> int:
    found = world.get_member(phone)
    assert found is not None
    return found.id


def listed_ids(html: str) -> list[int]:
    """Member ids linked from the list, in page order."""
    return [int(n) for n in re.findall(r'href="/staff/members/(\d+)"', html)]


def add_members(app, n: int, **values) -> list[int]:
    """`n` members written straight to the table (fast), ids in insertion order."""
    with app.app_context():
        now = utcnow()
        rows = [
            {
                "phone": f"+4474009{i:05d}",
                "name": f"Bulk {i}",
                "language": values.get("language", "en"),
                "status": values.get("status", "active"),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        db.session.execute(insert(Member), rows)
        db.session.commit()
        return list(
            db.session.execute(
                select(Member.id).where(Member.name.like("Bulk %")).order_by(Member.id)
            ).scalars()
        )


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(model).where(*where)
        ).scalar_one()


# ---------------------------------------------------------------------- the list


def test_search_finds_a_number_in_any_format(world, viewer):
    phone = world.member(name="Ann Jones")  # +447400200001
    other = world.member(name="Bob")  # +447400200002
    ann, bob = member_id(world, phone), member_id(world, other)
    assert phone == "+447400200001"
    for typed in (
        "07400 200001",
        "+44 7400 200001",
        "0044 7400 200001",
        "+447400200001",
        "(07400) 200-001",
        "200001",  # some of its digits
        "0001",
    ):
        html = viewer.get("/staff/members", query_string={"q": typed}).get_data(as_text=True)
        assert listed_ids(html) == [ann], typed
    # The start of a number, national or international: both members.
    for typed in ("07400 2000", "+44 7400", "0044 74002"):
        html = viewer.get("/staff/members", query_string={"q": typed}).get_data(as_text=True)
        assert sorted(listed_ids(html)) == sorted([ann, bob]), typed
    # Names, any case, any part.
    html = viewer.get("/staff/members", query_string={"q": "ann j"}).get_data(as_text=True)
    assert listed_ids(html) == [ann]
    html = viewer.get("/staff/members", query_string={"q": "07400 999999"}).get_data(as_text=True)
    assert listed_ids(html) == []
    assert "No member matches" in html
    # A LIKE wildcard is a character, not "anything".
    html = viewer.get("/staff/members", query_string={"q": "%"}).get_data(as_text=True)
    assert listed_ids(html) == []


def test_filters_by_group_language_and_status(world, viewer):
    welsh = member_id(world, world.member(language="cy", groups=["allies"]))
    english = member_id(world, world.member(language="en", groups=["community"]))
    leaver_phone = world.member(language="en", groups=["community", "allies"])
    world.text(leaver_phone, "STOP")
    leaver = member_id(world, leaver_phone)

    def ids(**args) -> list[int]:
        html = viewer.get("/staff/members", query_string=args).get_data(as_text=True)
        return sorted(listed_ids(html))

    assert ids() == sorted([welsh, english, leaver])
    assert ids(group="allies") == sorted([welsh, leaver])
    assert ids(language="cy") == [welsh]
    assert ids(status="opted_out") == [leaver]
    assert ids(status="active", group="community") == [english]
    assert ids(language="xx", status="nonsense") == sorted([welsh, english, leaver])
    html = viewer.get("/staff/members?group=allies").get_data(as_text=True)
    assert "2 members match" in html
    offered = re.findall(
        r'<option (?:selected )?value="([^"]*)"', html.split('id="group"')[1].split("</select>")[0]
    )
    assert offered == ["", "allies", "community"]
    # The filters are kept in the export link.
    assert "/staff/members/export.csv?group=allies" in html


def test_pages_of_fifty_newest_first_with_keyset_links(app, viewer):
    ids = add_members(app, 120)
    seen: list[int] = []
    path = "/staff/members"
    pages = 0
    while path:
        html = viewer.get(path).get_data(as_text=True)
        page = listed_ids(html)
        assert page == sorted(page, reverse=True)
        seen += page
        pages += 1
        older = re.search(r'href="(/staff/members\?before=\d+)" rel="next"', html)
        path = older.group(1) if older else None
    assert pages == 3
    assert seen == sorted(ids, reverse=True)
    assert "120 members" in viewer.get("/staff/members").get_data(as_text=True)
    # Back from the last page: the 50 before it.
    last = viewer.get(f"/staff/members?before={seen[99]}").get_data(as_text=True)
    assert listed_ids(last) == seen[100:]
    newer = re.search(r'href="(/staff/members\?after=\d+)" rel="prev"', last).group(1)
    assert listed_ids(viewer.get(newer).get_data(as_text=True)) == seen[50:100]


def test_the_list_costs_the_same_few_queries_however_many_members(app, viewer):
    add_members(app, 10)
    few = statements(app, lambda: viewer.get("/staff/members"))
    with app.app_context():
        now = utcnow()
        db.session.execute(
            insert(Member),
            [
                {
                    "phone": f"+4474008{i:05d}",
                    "name": f"More {i}",
                    "created_at": now,
                    "updated_at": now,
                    "status": "active",
                    "language": "en",
                }
                for i in range(300)
            ],
        )
        db.session.commit()
    many = statements(app, lambda: viewer.get("/staff/members"))
    assert many == few, "the list must not query per member"


def statements(app, action) -> int:
    """How many SQL statements `action` runs."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def count_it(*args):
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count_it)
    try:
        response = action()
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count_it)
    return len(seen)


def test_numbers_are_masked_for_viewers_and_whole_for_organisers(world, viewer, organiser):
    phone = world.member(name="Masked")
    mid = member_id(world, phone)
    for path in ("/staff/members", f"/staff/members/{mid}"):
        seen = viewer.get(path).get_data(as_text=True)
        assert phone not in seen
        assert "+44******0001" in seen
        assert phone in organiser.get(path).get_data(as_text=True)


# ---------------------------------------------------------------------- the member page


def test_member_page_shows_profile_consent_texts_and_votes(world, viewer):
    world.consultation("P7")
    phone = world.member(name="Dana", groups=["allies", "community"], language="cy")
    world.sent("P7", phone)
    world.text(phone, "YES")
    html = viewer.get(f"/staff/members/{member_id(world, phone)}").get_data(as_text=True)
    assert "<h1><bdi>Dana</bdi></h1>" in html
    assert "allies, community" in html
    assert 'lang="cy">Cymraeg</span>' in html
    assert "Added through the staff API" in html
    assert "api:tests" in html  # who recorded it: the API token
    assert "P7" in html and "yes" in html  # the vote
    assert "YES" in html  # the text in
    assert "Opted out: Chorus does not text" not in html
    assert "MEMBERDATA" not in html  # the lead's marker is a template comment


def test_opted_out_is_clear_and_cannot_be_undone_by_staff(world, organiser):
    phone = world.member(name="Stopper")
    world.text(phone, "STOP")
    mid = member_id(world, phone)
    html = organiser.get(f"/staff/members/{mid}").get_data(as_text=True)
    assert "Opted out: Chorus does not text this member." in html
    assert "They texted STOP" in html
    assert "Staff cannot re-subscribe them" in html
    # No control for it: the edit form has no status or consent field.
    form = organiser.get(f"/staff/members/{mid}/edit").get_data(as_text=True)
    assert 'name="status"' not in form and "consent" not in form.lower().split("<form")[1]
    # A crafted POST that tries is refused, and changes nothing.
    for crafted in ({"status": "active"}, {"consent_source": "staff"}, {"opt_in": "1"}):
        answer = post(
            organiser,
            f"/staff/members/{mid}/edit",
            {"name": "Changed", "language": "en", "groups": "community", **crafted},
        )
        assert answer.status_code == 403
    after = world.get_member(phone)
    assert after.status == "opted_out" and after.name == "Stopper"
    assert after.opt_out_source == "sms"
    # A route to re-subscribe does not exist either.
    assert post(organiser, f"/staff/members/{mid}/subscribe").status_code in (404, 405)


def test_adding_a_number_that_texted_stop_keeps_it_opted_out(world, organiser):
    stranger = world.stranger()
    world.text(stranger, "STOP")
    answer = post(
        organiser,
        "/staff/members/new",
        {"phone": stranger, "name": "Was STOP", "language": "en", "groups": "community"},
    )
    assert answer.status_code == 303
    added = world.get_member(stranger)
    assert added.status == "opted_out" and added.consent_at is None
    crafted = post(
        organiser,
        "/staff/members/new",
        {"phone": world.stranger(), "language": "en", "groups": "", "status": "active"},
    )
    assert crafted.status_code == 403


# ---------------------------------------------------------------------- add and edit


def test_viewers_may_not_add_edit_or_import(world, viewer):
    mid = member_id(world, world.member())
    for path in (
        "/staff/members/new",
        f"/staff/members/{mid}/edit",
        "/staff/members/import",
        "/staff/members/imports/1",
    ):
        assert viewer.get(path).status_code == 403
        assert post(viewer, path, {"phone": "07400 123456", "name": "x"}).status_code in (403, 405)
    for path in ("/staff/members/imports/1/confirm", "/staff/members/imports/1/discard"):
        assert post(viewer, path).status_code == 403
    html = viewer.get("/staff/members").get_data(as_text=True)
    assert "/staff/members/new" not in html and "/staff/members/import" not in html


def test_add_a_member_through_the_api_domain_function(app, organiser):
    answer = post(
        organiser,
        "/staff/members/new",
        {"phone": "07400 123456", "name": " Eve ", "language": "pl", "groups": "allies, Community"},
    )
    assert answer.status_code == 303
    with app.app_context():
        added = db.session.execute(select(Member)).scalar_one()
        assert answer.headers["Location"] == f"/staff/members/{added.id}"
        assert (added.phone, added.name, added.language) == ("+447400123456", "Eve", "pl")
        assert added.groups == ["allies", "community"]
        assert added.status == "active" and added.consent_source == "staff"
        assert added.consent_by == "staff:organiser@example.org"
        event_ = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "member.created")
        ).scalar_one()
        assert event_.actor == "staff:organiser@example.org"
    page = organiser.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Member added." in page and "staff:organiser@example.org" in page


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"phone": "12345"}, "phone", "not a phone number we can use"),
        ({"phone": ""}, "phone", "Enter a phone number."),
        ({"phone": "+44 7400 200001"}, "phone", "A member already has this number."),
        ({"language": "xx"}, "language", "Choose one of the ten languages."),
        ({"groups": "no spaces allowed!"}, "groups", "Group names are lower-case"),
        ({"name": "n" * 201}, "name", "at most 200 characters"),
    ],
)
def test_bad_input_gives_the_form_again_with_the_message_by_the_field(
    app, world, organiser, data, field, words
):
    world.member()  # +447400200001
    before = count(app, Member)
    form = {"phone": "07400 765432", "name": "New", "language": "en", "groups": "community"}
    answer = post(organiser, "/staff/members/new", {**form, **data})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    error = re.search(rf'<p id="{field}-error" class="field-error">([^<]*)</p>', html)
    assert error and words in error.group(1)
    assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error', html) or re.search(
        rf'aria-describedby="[^"]*{field}-error[^"]*"[^>]*id="{field}"', html
    )
    assert count(app, Member) == before


def test_every_problem_is_shown_at_once(app, organiser):
    answer = post(
        organiser,
        "/staff/members/new",
        {"phone": "123", "name": "x", "language": "zz", "groups": "a b!"},
    )
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    for field in ("phone", "language", "groups"):
        assert f'id="{field}-error"' in html, field
    assert count(app, Member) == 0


def test_edit_name_language_and_groups(app, world, organiser):
    phone = world.member(name="Old", groups=["community"])
    mid = member_id(world, phone)
    form = organiser.get(f"/staff/members/{mid}/edit").get_data(as_text=True)
    assert 'value="Old"' in form and 'value="community"' in form
    answer = post(
        organiser,
        f"/staff/members/{mid}/edit",
        {"name": "New name", "language": "ar", "groups": "allies;staff"},
    )
    assert answer.status_code == 303
    edited = world.get_member(phone)
    assert (edited.name, edited.language, edited.groups) == ("New name", "ar", ["allies", "staff"])
    assert edited.status == "active" and edited.phone == phone
    with app.app_context():
        audit = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "member.updated")
        ).scalar_one()
        assert audit.data == {"fields": ["name", "language", "groups"]}  # no personal data
    bad = post(organiser, f"/staff/members/{mid}/edit", {"name": "X", "language": "zz"})
    assert bad.status_code == 422
    assert world.get_member(phone).name == "New name"


# ---------------------------------------------------------------------- CSV import

GOOD_AND_BAD = (
    "Phone,Name,Language,Groups\n"
    "07400 300001,Ann,cy,community;allies\n"  # line 2: fine
    "not a number,Bob,en,\n"  # 3: invalid
    "+44 7400 300001,Ann again,en,\n"  # 4: duplicate of line 2
    "07400 200001,Member already,en,\n"  # 5: already a member
    "07400 300002,Cai,klingon,\n"  # 6: unknown language
    "07400 300003,Dee,,bad group!\n"  # 7: bad groups
    ",No number,en,\n"  # 8: no phone
    "\n"
    "07400 300004,,,\n"  # 10: fine, default language, no groups
    "07400 300005,Was STOP,en,community|staff\n"  # 11: fine, but texted STOP
)


def upload(client, text: str | bytes, name: str = "members.csv"):
    data = text.encode() if isinstance(text, str) else text
    return post(client, "/staff/members/import", {"file": (io.BytesIO(data), name)})


@pytest.fixture
def quiet_app(make_app, rq_setup):
    """An app whose jobs wait in (fake) Redis: nothing runs unless the test runs it."""
    env, config = rq_setup
    return make_app(config=config, **env)


def import_id_of(location: str) -> int:
    return int(location.rsplit("/", 1)[1])


def checked(app, import_id: int) -> None:
    """Run the check job by hand, as a worker would."""
    with app.app_context():
        check_import(import_id)


def test_import_preview_shows_per_row_errors_and_writes_no_member(app, world, organiser):
    world.member()  # +447400200001
    world.text("+447400300005", "STOP")  # a stranger who said STOP
    before = count(app, Member)
    answer = upload(organiser, GOOD_AND_BAD)
    assert answer.status_code == 303
    preview = organiser.get(answer.headers["Location"])
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert 'http-equiv="refresh"' not in html
    assert "10 rows read." not in html  # blank lines are not rows
    assert "9 rows read." in html
    assert "3 members will be added." in html
    assert "1 of them texted STOP before" in html
    assert "6 rows will not be added" in html
    problems = dict(re.findall(r'<tr><th scope="row">(\d+)</th>.*?<td>([^<]*)</td></tr>', html))
    assert problems == {
        "3": "Not a phone number we can use.",
        "4": "The same number is on line 2.",
        "5": "Already a member.",
        "6": "Unknown language: use one of en cy es fr pt pl ro ar ur bn.",
        "7": "Group names are lower-case letters, digits, - and _, separated by ; or |.",
        "8": "No phone number.",
        "2": "",
        "10": "",
        "11": "Texted STOP: added as opted out",
    }
    assert count(app, Member) == before  # nothing written before confirm
    with app.app_context():
        stored = db.session.execute(select(MemberImport)).scalar_one()
        assert stored.status == "preview" and stored.created_by == "staff:organiser@example.org"


def test_confirm_runs_the_job_and_adds_the_members(app, world, organiser):
    world.member()
    world.text("+447400300005", "STOP")
    location = upload(organiser, GOOD_AND_BAD).headers["Location"]
    import_id = int(location.rsplit("/", 1)[1])
    answer = post(organiser, f"{location}/confirm")
    assert answer.status_code == 303 and answer.headers["Location"] == location
    report = organiser.get(location).get_data(as_text=True)
    assert "3 members added." in report
    assert 'http-equiv="refresh"' not in report
    with app.app_context():
        added = {
            m.phone: m
            for m in db.session.execute(
                select(Member).where(Member.phone.like("+4474003%"))
            ).scalars()
        }
        assert sorted(added) == ["+447400300001", "+447400300004", "+447400300005"]
        ann = added["+447400300001"]
        assert (ann.name, ann.language, ann.groups) == ("Ann", "cy", ["allies", "community"])
        assert ann.status == "active" and ann.consent_source == "import"
        assert ann.consent_by == "staff:organiser@example.org" and ann.consent_at is not None
        assert added["+447400300004"].language == "en" and added["+447400300004"].groups == []
        stopped = added["+447400300005"]
        assert stopped.status == "opted_out" and stopped.consent_source is None
        assert stopped.opt_out_source == "sms" and stopped.groups == ["community", "staff"]
        done = db.session.get(MemberImport, import_id)
        assert (done.status, done.added, done.skipped) == ("done", 3, 0)
        # Each member added who may be texted gets the welcome first (issue #10); the
        # one who had texted STOP gets nothing.
        welcomes = {
            m.phone: m
            for m in db.session.execute(select(Message).where(Message.kind == "added")).scalars()
        }
        assert sorted(welcomes) == ["+447400300001", "+447400300004"]
        assert welcomes["+447400300001"].priority == "bulk"  # behind replies
        assert welcomes["+447400300001"].member_id == ann.id
        assert "STOP" in welcomes["+447400300004"].body
        # The added rows are gone; the refused ones stay for the report.
        left = db.session.execute(
            select(func.count()).where(MemberImportRow.import_id == import_id)
        ).scalar_one()
        assert left == 6
        actions = list(
            db.session.execute(
                select(AuditEvent.action).where(AuditEvent.subject_type == "member_import")
            ).scalars()
        )
        assert actions == [
            "members.import_checked",
            "members.import_confirmed",
            "members.imported",
            "members.import_finished",
        ]
    # Confirming again does nothing more.
    again = post(organiser, f"{location}/confirm")
    assert again.status_code == 303
    assert count(app, Member, Member.phone.like("+4474003%")) == 3


def test_the_job_run_twice_or_after_a_crash_adds_nobody_twice(quiet_app):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    rows = "phone,name\n" + "".join(f"07400 4{i:05d},P{i}\n" for i in range(25))
    location = upload(organiser, rows).headers["Location"]
    import_id = import_id_of(location)
    checked(app, import_id)
    with app.app_context():
        import_row = db.session.get(MemberImport, import_id)
        import_row.status = ImportStatus.QUEUED
        import_row.confirmed_by = "staff:organiser@example.org"
        db.session.commit()
        # A first run that dies after two chunks of 5.
        assert member_import.run_chunk(import_id, size=5)
        db.session.commit()
        assert member_import.run_chunk(import_id, size=5)
        db.session.rollback()  # the crash: this chunk never committed
        assert count(app, Member) == 5
        running = db.session.get(MemberImport, import_id)
        assert running.status == "running" and running.added == 5
    progress = organiser.get(location).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="5">' in progress
    assert "Stop refreshing" in progress
    still = organiser.get(location + "?refresh=off").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in still and "5 of 25" in still
    assert 'value="5"' in progress and "5 of 25" in progress
    with app.app_context():
        run_import(import_id, chunk=7)
        run_import(import_id, chunk=7)  # the same job again: nothing left to do
        assert count(app, Member) == 25
        assert count(app, MemberGroup) == 0
        done = db.session.get(MemberImport, import_id)
        assert (done.status, done.added, done.skipped) == ("done", 25, 0)
        phones = db.session.execute(select(Member.phone)).scalars().all()
        assert len(set(phones)) == 25
        # The job queued a send job for each welcome it queued, at bulk priority (in one
        # go, with Redis; behind replies to texts in); the first chunk's 5, added by hand
        # above, have none yet.
        welcomes = list(
            db.session.execute(
                select(Message.id).where(Message.kind == "added").order_by(Message.id)
            ).scalars()
        )

        def sends(queue: str) -> int:  # the queue's jobs but the import's own (confirm's)
            return jobs().queues[queue].count - (queue == "bulk")

        assert len(welcomes) == 25 and sends("bulk") == 20 and sends("high") == 0
        waiting = [jobs().waiting(f"chorus-msg-{message_id}") for message_id in welcomes]
        assert waiting == [False] * 5 + [True] * 20
        assert import_tasks.send_soon_all(welcomes) == 5  # named jobs: never twice
        assert import_tasks.send_soon_all(welcomes) == 0
        assert sends("bulk") == 25
        # Jobs lost with Redis: the sweeper's pump queues them again, at their priority.
        jobs().redis.flushdb()
        assert outbox_tasks.pump_singles() == 25
        assert jobs().queues["bulk"].count == 25 and jobs().queues["high"].count == 0


def test_a_number_that_joined_meanwhile_is_skipped_not_doubled(app, world, organiser):
    location = upload(organiser, "phone\n07400 500001\n07400 500002\n").headers["Location"]
    world.member(phone="+447400500002")  # joined between preview and confirm
    post(organiser, f"{location}/confirm")
    with app.app_context():
        done = db.session.execute(select(MemberImport)).scalar_one()
        assert (done.added, done.skipped) == (1, 1)
    assert "became a member while the import waited" in organiser.get(location).get_data(
        as_text=True
    )


def test_a_number_that_joins_during_the_insert_is_left_as_it_is(app, world, organiser, monkeypatch):
    location = upload(organiser, "phone,name\n07400 500003,A\n07400 500004,B\n").headers["Location"]
    world.member(phone="+447400500004", name="Joined")
    # The import's look at who is a member misses the one who just joined: the insert
    # clashes, and each row is tried on its own.
    monkeypatch.setattr(member_import, "_members_among", lambda phones: set())
    post(organiser, f"{location}/confirm")
    with app.app_context():
        done = db.session.execute(select(MemberImport)).scalar_one()
        assert (done.status, done.added, done.skipped) == ("done", 1, 1)
        names = dict(db.session.execute(select(Member.phone, Member.name)).all())
        assert names == {"+447400500003": "A", "+447400500004": "Joined"}


def test_a_lost_import_job_is_queued_again_by_the_sweep(quiet_app):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    location = upload(organiser, "phone\n07400 600001\n").headers["Location"]
    checked(app, import_id_of(location))
    with app.app_context():
        lost = db.session.execute(select(MemberImport)).scalar_one()
        lost.status = ImportStatus.QUEUED
        lost.confirmed_by = "staff:organiser@example.org"
        lost.confirmed_at = utcnow().replace(year=2020)
        db.session.commit()
    app.config["JOBS_EAGER"] = True
    with app.app_context():
        assert resume_stalled() == 1
        assert count(app, Member) == 1
    assert "1 member added." in organiser.get(location).get_data(as_text=True)


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.subject_type == "member_import")
                .order_by(AuditEvent.id)
            ).scalars()
        )


def test_the_upload_only_keeps_the_file_and_a_job_checks_it_once(quiet_app):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    answer = upload(organiser, GOOD_AND_BAD)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    import_id = import_id_of(location)
    # The request checked the file as a whole and kept it; no row is checked or stored.
    assert count(app, MemberImportRow) == 0 and count(app, Member) == 0
    assert audit_actions(app) == []
    with app.app_context():
        waiting = db.session.get(MemberImport, import_id)
        assert waiting.status == "checking" and waiting.total_rows == 9
        assert waiting.data == GOOD_AND_BAD.encode()
        assert jobs().waiting(check_job_id(import_id))  # the check job, queued
    # Its page says so, with the count, and refreshes itself until the preview is ready.
    page = organiser.get(location).get_data(as_text=True)
    assert "Checking the file…" in page and "9 rows are being checked." in page
    assert '<meta http-equiv="refresh" content="5">' in page and "Stop refreshing" in page
    assert "Import 3 members" not in page and "Discard this file" not in page
    still = organiser.get(location + "?refresh=off").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in still and "Refresh automatically" in still
    # Confirm or discard now: refused, and nothing is written.
    for action in ("confirm", "discard"):
        refused = post(organiser, f"{location}/{action}")
        assert refused.status_code == 303 and refused.headers["Location"] == location
        said = organiser.get(location + "?refresh=off").get_data(as_text=True)
        assert "This file is still being checked: wait for the preview." in said
    with app.app_context():
        assert db.session.get(MemberImport, import_id).status == "checking"
    assert count(app, MemberImportRow) == 0 and count(app, Member) == 0
    assert audit_actions(app) == []
    # The job, twice (a redelivery, or the sweeper's copy): one check.
    checked(app, import_id)
    checked(app, import_id)
    assert count(app, MemberImportRow) == 9
    assert audit_actions(app) == ["members.import_checked"]
    with app.app_context():
        done = db.session.get(MemberImport, import_id)
        assert (done.status, done.total_rows, done.to_add, done.error_rows) == (
            "preview",
            9,
            4,
            5,
        )
        assert done.data is None  # the file is dropped once checked
    preview = organiser.get(location).get_data(as_text=True)
    assert "4 members will be added." in preview and 'http-equiv="refresh"' not in preview


def test_a_check_under_way_elsewhere_is_not_done_twice_and_a_crash_starts_over(
    quiet_app, monkeypatch
):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    import_id = import_id_of(upload(organiser, "phone\n07400 610001\n").headers["Location"])
    with app.app_context():
        token = jobs().lease("lease:" + check_job_id(import_id), 60)
        assert token is not None
        check_import(import_id)  # another worker holds the lease: nothing done
        assert db.session.get(MemberImport, import_id).status == "checking"
        jobs().release("lease:" + check_job_id(import_id), token)

    # A check that dies after storing the rows: nothing of it stays.
    def dies(*args, **kwargs):
        raise RuntimeError("the worker died")

    monkeypatch.setattr(member_import.audit, "record", dies)
    with app.app_context(), pytest.raises(RuntimeError):
        check_import(import_id)
    monkeypatch.undo()
    assert count(app, MemberImportRow) == 0
    with app.app_context():
        assert db.session.get(MemberImport, import_id).status == "checking"
    checked(app, import_id)
    assert count(app, MemberImportRow) == 1
    with app.app_context():
        assert db.session.get(MemberImport, import_id).status == "preview"


def test_a_lost_check_job_is_queued_again_by_the_sweep(quiet_app):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    location = upload(organiser, "phone\n07400 620001\n07400 620002\n").headers["Location"]
    import_id = import_id_of(location)
    later = utcnow() + timedelta(minutes=3)
    with app.app_context():
        assert resume_stalled() == 0  # just uploaded
        assert resume_stalled(later) == 0  # its job is still waiting: not queued twice
        jobs().redis.flushdb()  # Redis lost it
        assert not jobs().waiting(check_job_id(import_id))
        assert resume_stalled(utcnow()) == 0  # not stalled yet
    app.config["JOBS_EAGER"] = True
    with app.app_context():
        assert resume_stalled(later) == 1
    assert count(app, MemberImportRow) == 2 and count(app, Member) == 0
    assert "2 members will be added." in organiser.get(location).get_data(as_text=True)


def test_a_file_left_unchecked_for_a_day_is_discarded_and_dropped(quiet_app):
    app = quiet_app
    organiser = staff_client(app, "organiser")
    import_id = import_id_of(upload(organiser, "phone\n07400 630001\n").headers["Location"])
    with app.app_context():
        member_import.purge(utcnow() + timedelta(hours=23))
        db.session.commit()
        assert db.session.get(MemberImport, import_id).status == "checking"
        member_import.purge(utcnow() + timedelta(days=1, minutes=1))
        db.session.commit()
        gone = db.session.get(MemberImport, import_id)
        assert gone.status == "discarded" and gone.data is None
        check_import(import_id)  # its job, late: nothing to do
    assert count(app, MemberImportRow) == 0


def test_a_file_the_check_cannot_use_is_discarded(quiet_app, monkeypatch):
    """The request's checks and the job's agree; should they not (a new limit deployed
    in between), the job discards the import rather than leave it checking."""
    app = quiet_app
    organiser = staff_client(app, "organiser")
    rows = "phone\n07400 640001\n07400 640002\n07400 640003\n"
    import_id = import_id_of(upload(organiser, rows).headers["Location"])
    monkeypatch.setattr(member_import, "MAX_ROWS", 2)
    checked(app, import_id)
    with app.app_context():
        refused = db.session.get(MemberImport, import_id)
        assert refused.status == "discarded" and refused.data is None
    assert count(app, MemberImportRow) == 0
    assert audit_actions(app) == ["members.import_discarded"]


def test_discarding_a_preview_deletes_its_rows(app, organiser):
    location = upload(organiser, "phone\n07400 700001\n").headers["Location"]
    answer = post(organiser, f"{location}/discard")
    assert answer.status_code == 303
    assert count(app, MemberImportRow) == 0 and count(app, Member) == 0
    assert post(organiser, f"{location}/confirm").status_code == 303
    assert count(app, Member) == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "The file is empty."),
        ("07400 123456,Ann\n", "The first line must name the columns"),
        ("phone,name\n\n", "The file has a header line but no members."),
    ],
)
def test_a_file_that_cannot_be_read_gives_the_form_again(app, organiser, text, words):
    answer = upload(organiser, text)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert words in html and 'aria-describedby="file-hint file-error"' in html
    assert count(app, MemberImport) == 0


def test_a_file_with_too_many_rows_gives_the_form_again(quiet_app, monkeypatch):
    monkeypatch.setattr(member_import, "MAX_ROWS", 3)
    organiser = staff_client(quiet_app, "organiser")
    assert upload(organiser, "phone\n" + "07400 650001\n" * 3).status_code == 303
    answer = upload(organiser, "phone\n" + "07400 650001\n" * 4)
    assert answer.status_code == 422
    assert "A file can have at most 3 rows: split it in parts." in answer.get_data(as_text=True)
    assert count(quiet_app, MemberImport) == 1  # the first file only, waiting for its check


def test_the_import_takes_spreadsheet_files_bom_and_windows_1252(app, organiser):
    text = "\ufeffphone,name\r\n07400 800001,Zoë\r\n".encode()
    assert upload(organiser, text).status_code == 303
    latin = "phone,name\r\n07400 800002,Zoë\r\n".encode("cp1252")
    assert upload(organiser, latin).status_code == 303
    with app.app_context():
        names = db.session.execute(select(MemberImportRow.name)).scalars().all()
        assert names == ["Zoë", "Zoë"]


def test_uploads_up_to_ten_megabytes_whatever_the_global_limit(make_app):
    app = make_app(config={"MAX_CONTENT_LENGTH": 64 * 1024})
    organiser = staff_client(app, "organiser")
    # 200 KB: over the app's limit, fine for the import.
    rows = "phone,name\n" + "".join(f"07400 9{i:05d},{'x' * 40}\n" for i in range(4000))
    assert len(rows) > 150_000
    assert upload(organiser, rows).status_code == 303
    # Over 10 MB: refused, with the form and a message.
    # The body is built here: the test client would spool it to a temporary file
    # that closing the response does not close.
    boundary = "chorus-test-boundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{csrf(organiser)}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "phone\n" + "0" * (10 * 1024 * 1024 + 10) + f"\r\n--{boundary}--\r\n"
    ).encode()
    answer = organiser.post(
        "/staff/members/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert answer.status_code == 413
    assert "larger than 10 MB" in answer.get_data(as_text=True)
    # Anywhere else the app's own limit holds.
    other = post(organiser, "/staff/members/new", {"name": "x" * 100_000})
    assert other.status_code == 413


def test_a_larger_import_goes_in_chunks(app, organiser, monkeypatch):
    # The welcome texts' sends are left to the sweeper: inline (JOBS_EAGER) they would
    # go at the send rate, minutes for 2,500.
    sends: list[int] = []
    monkeypatch.setattr(import_tasks, "send_soon_all", sends.extend)
    rows = "phone,name,language,groups\n" + "".join(
        f"07400 1{i:05d},Person {i},en,community\n" for i in range(2500)
    )
    location = upload(organiser, rows).headers["Location"]
    post(organiser, f"{location}/confirm")
    assert count(app, Member) == 2500
    assert count(app, MemberGroup) == 2500
    assert count(app, AuditEvent, AuditEvent.action == "members.imported") == 3  # 1000 a chunk
    assert len(set(sends)) == 2500
    assert count(app, Message, Message.kind == "added", Message.status == "queued") == 2500


# ---------------------------------------------------------------------- export


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_export_streams_the_filtered_members(app, world, organiser, viewer):
    world.member(name="=HYPERLINK(1)", groups=["allies", "community"])
    world.member(name="Plain", language="cy", groups=["community"])
    response = organiser.get("/staff/members/export.csv")
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert [r["phone"] for r in rows] == ["+447400200001", "+447400200002"]
    assert rows[0]["name"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[0]["groups"] == "allies;community"
    assert rows[0]["status"] == "active" and rows[0]["consent_source"] == "api"
    assert list(rows[0])[:4] == ["phone", "name", "language", "groups"]  # the import's columns
    only = read_csv(organiser.get("/staff/members/export.csv?language=cy"))
    assert [r["name"] for r in only] == ["Plain"]
    masked = read_csv(viewer.get("/staff/members/export.csv"))
    assert [r["phone"] for r in masked] == ["+44******0001", "+44******0002"]
    with app.app_context():
        exports = (
            db.session.execute(
                select(AuditEvent.data).where(AuditEvent.action == "members.exported")
            )
            .scalars()
            .all()
        )
        assert [e["numbers"] for e in exports] == ["whole", "whole", "masked"]


def test_export_of_many_members_is_complete(app, organiser):
    add_members(app, 2300)
    rows = read_csv(organiser.get("/staff/members/export.csv"))
    assert len(rows) == 2300 and len({r["phone"] for r in rows}) == 2300


# ---------------------------------------------------------------------- every page in Arabic


def test_every_members_page_renders_in_arabic_right_to_left(app, world, organiser):
    mid = member_id(world, world.member(name="Rania"))
    location = upload(organiser, GOOD_AND_BAD).headers["Location"]
    for path in (
        "/staff/members",
        "/staff/members?q=0740",
        f"/staff/members/{mid}",
        "/staff/members/new",
        f"/staff/members/{mid}/edit",
        "/staff/members/import",
        location,
    ):
        response = organiser.get(path + ("&" if "?" in path else "?") + "lang=ar")
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert '<html lang="ar" dir="rtl">' in html, path
        assert "<script" not in html, path
        # Every control is labelled.
        controls = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]* id="([^"]+)"', html
        )
        for control in controls:
            assert f'for="{control}"' in html, (path, control)
