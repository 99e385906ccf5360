"""Scheduling pages: tests from the bank, sessions, candidates one by one or from CSV, accommodations."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timedelta

import pytest

from assessment.audit.models import AuditEvent
from assessment.auth.models import Role, User
from assessment.auth.services import authenticate
from assessment.bank import services as bank_services
from assessment.delivery import services as delivery
from assessment.delivery.models import (
    Attempt,
    ExamDefinition,
    ExamSession,
    Registration,
)
from assessment.extensions import db
from assessment.scheduling import services
from item_bank.items import ItemSpec, LanguageVersion
from tests.assessment.conftest import sign_in

T0 = datetime(2026, 12, 1, 9, 0)
OPTIONS = ("a", "b", "c", "d")


def _spec(code: str, status: str = "operational") -> ItemSpec:
    if code.startswith("K"):
        return ItemSpec(
            code,
            "single_best",
            {"en": LanguageVersion("Q?", OPTIONS)},
            {"correct": 0},
            status=status,
            domain="civil",
        )
    return ItemSpec(
        code,
        "sjt_most_least",
        {"en": LanguageVersion("Q?", OPTIONS)},
        {"most": 0, "least": 1},
        status=status,
        competence="integrity",
    )


@pytest.fixture
def bank(app):
    """Operational knowledge and SJT items, one pretest and one draft knowledge item."""
    with app.app_context():
        specs = [_spec(c) for c in ("K-1", "K-2", "K-3", "S-1", "S-2")]
        specs += [_spec("K-P", "pretest"), _spec("K-D", "draft")]
        bank_services.import_items(specs, actor=None, source="test")


@pytest.fixture
def admin(app, users):
    client = app.test_client()
    assert sign_in(client, "administrator").status_code == 302
    return client


@pytest.fixture
def session_id(app, users, bank):
    """A two-section test (10 and 5 minutes) and a session of it with the proctor."""
    with app.app_context():
        definition = services.create_definition(
            "Judges 2026",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "fixed",
                    "config": {"items": ["K-1", "K-2"]},
                },
                {
                    "title": {"en": "Judgement"},
                    "family": "sjt",
                    "time_limit_seconds": 300,
                    "mode": "fixed",
                    "config": {"items": ["S-1"]},
                },
            ],
            actor=None,
        )
        session = delivery.create_session(
            definition,
            name="Room 1",
            opens_at=T0,
            closes_at=T0 + timedelta(hours=4),
            proctors=[db.session.get(User, users["proctor"])],
            actor=None,
        )
        return session.id


def _registration(username: str) -> Registration:
    return db.session.execute(
        db.select(Registration)
        .join(User, Registration.candidate_id == User.id)
        .where(User.username == username)
    ).scalar_one()


def _timers(registration: Registration) -> list[int]:
    return [s.allowed_seconds for s in registration.attempt.sections]


def _upload(client, session_id: int, text: str, *, encoding: str = "utf-8"):
    data = {"file": (io.BytesIO(text.encode(encoding)), "candidates.csv")}
    return client.post(f"/admin/sessions/{session_id}/import", data=data, content_type="multipart/form-data")


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(db.select(db.func.count()).select_from(User)),
        db.session.scalar(db.select(db.func.count()).select_from(Registration)),
        db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)),
    )


# Tests and sessions through the pages ---------------------------------------------------------------------


def test_administrator_creates_a_test_with_ordered_sections(app, admin, bank):
    response = admin.post(
        "/admin/tests/new",
        data={
            "name": "Spring round",
            "scoring_method": "wle",
            "sections-0-title_en": "Law",
            "sections-0-title_ru": "Право",
            "sections-0-family": "knowledge",
            "sections-0-minutes": "90",
            "sections-0-items": "K-2, K-1\nK-3",
            "sections-0-pretest": "K-P",
            "sections-0-shuffle_options": "y",
            "sections-0-allow_review": "y",
            # section 2 left blank (as a browser posts it): skipped
            "sections-1-title_en": "",
            "sections-1-family": "knowledge",
            "sections-1-minutes": "",
            "sections-1-items": "",
            "sections-2-title_ru": "Суждения",
            "sections-2-family": "sjt",
            "sections-2-minutes": "45",
            "sections-2-items": "S-2 S-1",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        definition = db.session.execute(db.select(ExamDefinition)).scalar_one()
        first, second = definition.sections
        assert definition.scoring_method == "wle"  # sections of this test are scored by WLE when they close
        assert (first.title, first.time_limit_seconds, first.config) == (
            {"en": "Law", "ru": "Право"},
            5400,
            {"items": ["K-2", "K-1", "K-3"], "pretest": ["K-P"]},
        )
        assert (first.shuffle_options, first.allow_review) == (True, True)
        assert (second.position, second.family, second.config["items"], second.allow_review) == (
            1,
            "sjt",
            ["S-2", "S-1"],
            False,
        )
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Spring round" in page and "Суждения" in page and "135 min" in page


def test_a_test_with_wrong_items_is_refused_section_by_section(app, admin, bank):
    response = admin.post(
        "/admin/tests/new",
        data={
            "name": "Broken",
            "sections-0-title_en": "Law",
            "sections-0-family": "knowledge",
            "sections-0-minutes": "30",
            "sections-0-items": "K-1 S-1 K-D NOPE",
            "sections-1-title_en": "More law",
            "sections-1-family": "knowledge",
            "sections-1-minutes": "30",
            "sections-1-items": "K-1",
            "sections-1-pretest": "K-2",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for text in (
        "S-1 is a sjt item, the section is knowledge",
        "K-D is draft; only operational items can be used here",
        "There is no item NOPE in the bank",
        "K-1 is already in section 1",
        "K-2 is operational; only pretest items can be used here",
    ):
        assert text in page
    with app.app_context():
        assert db.session.execute(db.select(ExamDefinition)).first() is None


def test_administrator_schedules_a_session_with_proctors(app, admin, users, session_id):
    with app.app_context():
        definition_id = db.session.get(ExamSession, session_id).definition_id
    form = admin.get(f"/admin/sessions/new?definition={definition_id}").get_data(as_text=True)
    assert f'<option selected value="{definition_id}">' in form
    response = admin.post(
        "/admin/sessions/new",
        data={
            "definition": str(definition_id),
            "name": "Room 2",
            "opens_at": "2026-12-02T09:00",
            "closes_at": "2026-12-02T13:30",
            "proctors": [str(users["proctor"])],
        },
    )
    assert response.status_code == 302
    with app.app_context():
        session = db.session.execute(db.select(ExamSession).where(ExamSession.name == "Room 2")).scalar_one()
        assert (session.opens_at, session.closes_at) == (
            datetime(2026, 12, 2, 9),
            datetime(2026, 12, 2, 13, 30),
        )
        assert [p.username for p in session.proctors] == ["proctor"]
    listing = admin.get("/admin/sessions/").get_data(as_text=True)
    assert "Room 1" in listing and "Room 2" in listing and "2026-12-02 09:00" in listing


def test_a_session_closing_before_it_opens_or_without_proctors_is_refused(app, admin, users, session_id):
    with app.app_context():
        definition_id = db.session.get(ExamSession, session_id).definition_id
    response = admin.post(
        "/admin/sessions/new",
        data={
            "definition": str(definition_id),
            "name": "Backwards",
            "opens_at": "2026-12-02T09:00",
            "closes_at": "2026-12-02T08:00",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The session must close after it opens." in page and "Choose at least one proctor." in page
    # a candidate's account is not a proctor
    response = admin.post(
        "/admin/sessions/new",
        data={
            "definition": str(definition_id),
            "name": "X",
            "opens_at": "2026-12-02T09:00",
            "closes_at": "2026-12-02T10:00",
            "proctors": [str(users["candidate"])],
        },
    )
    assert response.status_code == 422


# One candidate at a time ----------------------------------------------------------------------------------


def test_registering_a_new_candidate_creates_the_account_with_accommodations(app, admin, session_id):
    response = admin.post(
        f"/admin/sessions/{session_id}/register",
        data={
            "candidate": "",
            "username": "a.bekov",
            "full_name": "Askar Bekov",
            "email": "a.bekov@example.org",
            "password": "initial password 1",
            "language": "kk",
            "extra_time_factor": "1.5",
            "large_text": "y",
            "note": "Screen reader",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        registration = _registration("a.bekov")
        assert registration.candidate.role is Role.CANDIDATE and registration.candidate.language == "kk"
        assert (registration.language, registration.extra_time_factor, registration.large_text) == (
            "kk",
            1.5,
            True,
        )
        assert _timers(registration) == [900, 450]
        assert authenticate("a.bekov", "initial password 1", ip=None, user_agent=None) is not None
    page = admin.get(f"/admin/sessions/{session_id}").get_data(as_text=True)
    assert "Askar Bekov" in page and "Screen reader" in page and "not admitted" in page


def test_registering_an_existing_account_twice_or_a_proctor_is_refused(app, admin, users, session_id):
    data = {"candidate": str(users["candidate"]), "language": "ru", "extra_time_factor": "1"}
    assert admin.post(f"/admin/sessions/{session_id}/register", data=data).status_code == 302
    # no longer offered, so the choice is refused by the form
    assert admin.post(f"/admin/sessions/{session_id}/register", data=data).status_code == 422
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        with pytest.raises(services.SchedulingError, match="already registered"):
            services.register_candidate(
                session,
                candidate=db.session.get(User, users["candidate"]),
                new_account=None,
                accommodations=services.Accommodations(),
                actor=None,
            )
        with pytest.raises(services.SchedulingError, match="role proctor"):
            services.register_candidate(
                session,
                candidate=db.session.get(User, users["proctor"]),
                new_account=None,
                accommodations=services.Accommodations(),
                actor=None,
            )


# CSV import -----------------------------------------------------------------------------------------------

GOOD_CSV = (
    "\ufeffusername;full_name;email;language;extra_time_factor;large_text;breaks_allowed;note\r\n"
    "n.sadykova;Нургуль Садыкова;ns@example.org;kk;1,5;да;0;Увеличенный шрифт\r\n"
    "candidate;;;;;;;\r\n"
    ";;;;;;;\r\n"
    'p.ivanov;Pyotr Ivanov;;en;2;0;yes;"line one\nline two"\r\n'
)


def test_csv_import_creates_accounts_and_registrations_and_shows_passwords_once(
    app, admin, users, session_id
):
    response = _upload(admin, session_id, GOOD_CSV)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    passwords = re.findall(r"<code>([A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4})</code>", page)
    assert len(passwords) == 2 and response.headers["Cache-Control"] == "no-store"
    link = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', page)
    credentials = base64.b64decode(link.group(1)).decode("utf-8")
    assert credentials.startswith("\ufeffusername,full_name,password,candidate_code,session")
    assert "n.sadykova,Нургуль Садыкова," + passwords[0] in credentials and "candidate," not in credentials
    with app.app_context():
        new = _registration("n.sadykova")
        assert (new.language, new.extra_time_factor, new.large_text, new.breaks_allowed) == (
            "kk",
            1.5,
            True,
            False,
        )
        assert (new.accommodation_note, _timers(new)) == ("Увеличенный шрифт", [900, 450])
        assert new.candidate.email == "ns@example.org" and new.candidate.role is Role.CANDIDATE
        ivanov = _registration("p.ivanov")
        assert (ivanov.breaks_allowed, ivanov.accommodation_note, _timers(ivanov)) == (
            True,
            "line one\nline two",
            [1200, 600],
        )
        existing = _registration("candidate")
        assert (existing.candidate_id, existing.language, _timers(existing)) == (
            users["candidate"],
            "en",
            [600, 300],
        )
        # the passwords work and are nowhere in the database in plain text
        assert authenticate("p.ivanov", passwords[1], ip=None, user_agent=None) is not None
        assert passwords[0] not in str(db.session.execute(db.select(AuditEvent.details)).scalars().all())
        assert passwords[0] not in ivanov.candidate.password_hash
        audit = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "scheduling.candidates_imported")
        ).scalar_one()
        assert audit.details["registrations"] == 3 and audit.details["new_accounts"] == 2
    # shown once: the session page lists the candidates but no password
    session_page = admin.get(f"/admin/sessions/{session_id}").get_data(as_text=True)
    assert "Нургуль Садыкова" in session_page and passwords[0] not in session_page


BAD_CSV = (
    "username,full_name,email,language,extra_time_factor,large_text,breaks_allowed,note\n"
    "ok.one,Okay One,,ru,1.0,0,0,\n"  # row 2: fine on its own
    ",No Name,,ru,1,0,0,\n"  # row 3: no user name
    "b.lang,Bad Language,,de,1,0,0,\n"  # row 4
    "b.time,Bad Time,,ru,3.5,0,0,\n"  # row 5
    "ok.one,Again,,ru,1,0,0,\n"  # row 6: repeats row 2
    "candidate,,,,,,,\n"  # row 7: already registered (below)
    "proctor,,,,,,,\n"  # row 8: not a candidate
    "no.name,,,ru,1,maybe,0,\n"  # row 9: new account without a name; bad flag
)


def test_a_broken_csv_changes_nothing_and_names_every_problem(app, admin, users, session_id):
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        delivery.register(session, db.session.get(User, users["candidate"]), actor=None)
        before = _counts()
    response = _upload(admin, session_id, BAD_CSV)
    assert response.status_code == 422
    with app.app_context():
        assert _counts() == before
        problems = [
            (p.row, p.column)
            for p in services.check_candidates(db.session.get(ExamSession, session_id), BAD_CSV.encode())[1]
        ]
    assert problems == [
        (3, "username"),
        (4, "language"),
        (5, "extra_time_factor"),
        (6, "username"),
        (7, "username"),
        (8, "username"),
        (9, "full_name"),
        (9, "large_text"),
    ]
    page = response.get_data(as_text=True)
    assert "Nothing was imported: the file has 8 problems" in page
    for text in (
        "must be one of en, kk, ru, got &#39;de&#39;",
        "must be a number from 1.0 to 3.0, got &#39;3.5&#39;",
        "repeats row 2",
        "already registered in this session",
        "exists with the role proctor",
        "is required for a new account",
    ):
        assert text in page
    assert page.count('<td class="num">9</td>') == 2


@pytest.mark.parametrize(
    ("data", "row", "column"),
    [
        (b"full_name,language\nA,ru\n", 1, "username"),
        (b"username,colour\nx,red\n", 1, "colour"),
        ("username\nи\n".encode("cp1251"), 2, None),
        (b"username\n", 2, None),
        (b"username,full_name\nx,X,surplus\n", 2, None),
    ],
)
def test_unreadable_files_are_refused_with_the_row(app, session_id, data, row, column):
    with app.app_context():
        problems = services.check_candidates(db.session.get(ExamSession, session_id), data)[1]
    assert [(p.row, p.column) for p in problems] == [(row, column)]


# Accommodations -------------------------------------------------------------------------------------------


def test_extra_time_is_applied_to_every_section_timer_before_the_start(app, admin, users, session_id):
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        registration_id = delivery.register(session, db.session.get(User, users["candidate"]), actor=None).id
    url = f"/admin/registrations/{registration_id}"
    assert "Section timers" in admin.get(url).get_data(as_text=True)
    response = admin.post(
        url, data={"language": "ru", "extra_time_factor": "1.25", "breaks_allowed": "y", "note": "Diabetes"}
    )
    assert response.status_code == 302
    with app.app_context():
        registration = db.session.get(Registration, registration_id)
        assert _timers(registration) == [750, 375]
        assert (registration.extra_time_factor, registration.breaks_allowed) == (1.25, True)
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "scheduling.accommodations_changed")
        ).scalar_one()
        assert event.details["changes"]["extra_time_factor"] == [1.0, 1.25]


def test_extra_time_cannot_change_once_the_sitting_has_started(app, admin, users, session_id):
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        registration = delivery.register(
            session, db.session.get(User, users["candidate"]), actor=None, extra_time_factor=1.5
        )
        attempt = db.session.get(Attempt, registration.attempt.id)
        delivery.check_in(attempt, "tab", now=T0)
        delivery.admit(attempt, actor=db.session.get(User, users["proctor"]), now=T0)
        delivery.start(attempt, "tab", now=T0)
        registration_id = registration.id
    url = f"/admin/registrations/{registration_id}"
    response = admin.post(url, data={"language": "ru", "extra_time_factor": "2"})
    assert response.status_code == 422
    assert "The sitting has started" in response.get_data(as_text=True)
    # large text can still be switched on for the rest of the sitting
    assert (
        admin.post(url, data={"language": "ru", "extra_time_factor": "1.5", "large_text": "y"}).status_code
        == 302
    )
    with app.app_context():
        registration = db.session.get(Registration, registration_id)
        assert (registration.extra_time_factor, registration.large_text) == (1.5, True)
        assert _timers(registration) == [900, 450]


def test_pages_render_for_the_administrator(admin, session_id, app):
    with app.app_context():
        definition_id = db.session.get(ExamSession, session_id).definition_id
    for url in (
        "/admin/tests/",
        "/admin/tests/new",
        f"/admin/tests/{definition_id}",
        "/admin/sessions/",
        "/admin/sessions/new",
        f"/admin/sessions/{session_id}",
        f"/admin/sessions/{session_id}/register",
        f"/admin/sessions/{session_id}/import",
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
    nav = admin.get("/admin/tests/").get_data(as_text=True)
    assert 'href="/admin/tests/" aria-current="page">Tests' in nav and 'href="/admin/sessions/"' in nav
    assert admin.get("/admin/tests/999").status_code == 404
    assert admin.get("/admin/registrations/999").status_code == 404
