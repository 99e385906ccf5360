"""Every route, every role: each role reaches only its own pages.

The matrix below is the specification. A route added to the app without a row here fails the suite, so that
nobody ships a page without deciding who may use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from assessment.auth.models import User
from assessment.bank import services as bank_services
from assessment.calibration.models import CalibrationRun, ResponseDataset
from assessment.delivery import services as delivery_services
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from tests.assessment.conftest import sign_in

ANON = "anonymous"
ROLES = ("administrator", "psychometrician", "proctor", "candidate", "commission")
EVERYONE = frozenset((ANON, *ROLES))
SIGNED_IN = frozenset(ROLES)
PSYCHOMETRICIAN = frozenset({"psychometrician"})
ADMINISTRATOR = frozenset({"administrator"})
PROCTOR = frozenset({"proctor"})
CANDIDATE = frozenset({"candidate"})

# endpoint -> (method, url, roles allowed). Placeholders: {user} the candidate's account id,
# {item} an item code, {parameter_set} a proposed parameter set of that item, {run} a queued calibration run,
# {stimulus} a shared case's code,
# {session} an exam session of the proctor, {attempt} the candidate's attempt in it, {registration} its
# registration, {definition} the session's test.
MATRIX: dict[str, tuple[str, frozenset[str]]] = {
    "GET static": ("/static/css/app.css", EVERYONE),
    "GET health.healthz": ("/healthz", EVERYONE),
    "GET auth.sign_in": ("/sign-in", EVERYONE),
    "POST auth.sign_in": ("/sign-in", EVERYONE),
    "POST auth.sign_in_with_code": ("/sign-in/code", EVERYONE),
    "POST auth.sign_out": ("/sign-out", SIGNED_IN),
    "POST auth.set_language": ("/language", EVERYONE),
    "GET main.home": ("/", SIGNED_IN),
    "GET main.admin_home": ("/admin/", frozenset({"administrator"})),
    "GET main.proctor_home": ("/proctor/", frozenset({"proctor"})),
    "GET main.candidate_home": ("/exam/", frozenset({"candidate"})),
    "GET main.commission_home": ("/commission/", frozenset({"commission"})),
    "GET bank.index": ("/bank/", PSYCHOMETRICIAN),
    "GET bank.item_detail": ("/bank/items/{item}", PSYCHOMETRICIAN),
    "GET bank.item_new": ("/bank/items/new", PSYCHOMETRICIAN),
    "POST bank.item_new": ("/bank/items/new", PSYCHOMETRICIAN),
    "GET bank.item_edit": ("/bank/items/{item}/edit", PSYCHOMETRICIAN),
    "POST bank.item_edit": ("/bank/items/{item}/edit", PSYCHOMETRICIAN),
    "POST bank.item_status": ("/bank/items/{item}/status", PSYCHOMETRICIAN),
    "POST bank.parameters_approve": ("/bank/parameters/{parameter_set}/approve", PSYCHOMETRICIAN),
    "POST bank.parameters_reject": ("/bank/parameters/{parameter_set}/reject", PSYCHOMETRICIAN),
    "GET bank.import_items": ("/bank/import", PSYCHOMETRICIAN),
    "POST bank.import_items": ("/bank/import", PSYCHOMETRICIAN),
    "GET bank.export_items": ("/bank/export?format=json", PSYCHOMETRICIAN),
    "GET bank.stimuli": ("/bank/stimuli/", PSYCHOMETRICIAN),
    "GET bank.stimulus_new": ("/bank/stimuli/new", PSYCHOMETRICIAN),
    "POST bank.stimulus_new": ("/bank/stimuli/new", PSYCHOMETRICIAN),
    "GET bank.stimulus_detail": ("/bank/stimuli/{stimulus}", PSYCHOMETRICIAN),
    "GET bank.stimulus_edit": ("/bank/stimuli/{stimulus}/edit", PSYCHOMETRICIAN),
    "POST bank.stimulus_edit": ("/bank/stimuli/{stimulus}/edit", PSYCHOMETRICIAN),
    "POST bank.stimulus_items": ("/bank/stimuli/{stimulus}/items", PSYCHOMETRICIAN),
    "GET calibration.index": ("/calibration/", PSYCHOMETRICIAN),
    "POST calibration.dataset_upload": ("/calibration/datasets", PSYCHOMETRICIAN),
    "POST calibration.dataset_from_sessions": ("/calibration/datasets/from-sessions", PSYCHOMETRICIAN),
    "POST calibration.run_start": ("/calibration/runs", PSYCHOMETRICIAN),
    "GET calibration.run_detail": ("/calibration/runs/{run}", PSYCHOMETRICIAN),
    "GET calibration.run_progress": ("/calibration/runs/{run}/progress", PSYCHOMETRICIAN),
    "POST calibration.run_cancel": ("/calibration/runs/{run}/cancel", PSYCHOMETRICIAN),
    "POST calibration.run_decide": ("/calibration/runs/{run}/decisions", PSYCHOMETRICIAN),
    "POST calibration.run_decide_bulk": ("/calibration/runs/{run}/decisions/bulk", PSYCHOMETRICIAN),
    "GET api_calibration.DatasetsView": ("/api/v1/calibration/datasets", PSYCHOMETRICIAN),
    "POST api_calibration.DatasetsView": ("/api/v1/calibration/datasets", PSYCHOMETRICIAN),
    "POST api_calibration.from_sessions": ("/api/v1/calibration/datasets/from-sessions", PSYCHOMETRICIAN),
    "GET api_calibration.RunsView": ("/api/v1/calibration/runs", PSYCHOMETRICIAN),
    "POST api_calibration.RunsView": ("/api/v1/calibration/runs", PSYCHOMETRICIAN),
    "GET api_calibration.get_run": ("/api/v1/calibration/runs/{run}", PSYCHOMETRICIAN),
    "POST api_calibration.cancel_run": ("/api/v1/calibration/runs/{run}/cancel", PSYCHOMETRICIAN),
    "POST api_calibration.decide": ("/api/v1/calibration/runs/{run}/decisions", PSYCHOMETRICIAN),
    "POST api_calibration.decide_bulk": ("/api/v1/calibration/runs/{run}/decisions/bulk", PSYCHOMETRICIAN),
    "GET delivery.sitting": ("/exam/sitting", CANDIDATE),
    "GET delivery.console": ("/proctor/sessions/{session}", PROCTOR),
    "GET delivery.irregularities_csv": ("/proctor/sessions/{session}/irregularities.csv", PROCTOR),
    "GET api_sitting.get_sitting": ("/api/v1/sitting", CANDIDATE),
    "POST api_sitting.check_in": ("/api/v1/sitting/check-in", CANDIDATE),
    "POST api_sitting.heartbeat": ("/api/v1/sitting/heartbeat", CANDIDATE),
    "POST api_sitting.start": ("/api/v1/sitting/start", CANDIDATE),
    "POST api_sitting.save_answer": ("/api/v1/sitting/answers", CANDIDATE),
    "POST api_sitting.finish_section": ("/api/v1/sitting/sections/0/finish", CANDIDATE),
    "POST api_sitting.next_question": ("/api/v1/sitting/sections/0/next", CANDIDATE),
    "POST api_sitting.signal": ("/api/v1/sitting/signals", CANDIDATE),
    "GET api_proctor.grid": ("/api/v1/proctor/sessions/{session}/grid", PROCTOR),
    "POST api_proctor.admit": ("/api/v1/proctor/attempts/{attempt}/admit", PROCTOR),
    "POST api_proctor.pause": ("/api/v1/proctor/attempts/{attempt}/pause", PROCTOR),
    "POST api_proctor.resume": ("/api/v1/proctor/attempts/{attempt}/resume", PROCTOR),
    "POST api_proctor.extend": ("/api/v1/proctor/attempts/{attempt}/extend", PROCTOR),
    "POST api_proctor.terminate": ("/api/v1/proctor/attempts/{attempt}/terminate", PROCTOR),
    "POST api_proctor.release": ("/api/v1/proctor/attempts/{attempt}/release", PROCTOR),
    "POST api_proctor.irregularity": ("/api/v1/proctor/sessions/{session}/irregularities", PROCTOR),
    "GET users.index": ("/admin/users/", ADMINISTRATOR),
    "GET users.create": ("/admin/users/new", ADMINISTRATOR),
    "POST users.create": ("/admin/users/new", ADMINISTRATOR),
    "GET users.edit": ("/admin/users/{user}", ADMINISTRATOR),
    "POST users.edit": ("/admin/users/{user}", ADMINISTRATOR),
    "POST users.set_password": ("/admin/users/{user}/password", ADMINISTRATOR),
    "POST users.sign_out_everywhere": ("/admin/users/{user}/sign-out-everywhere", ADMINISTRATOR),
    "GET scheduling.definitions": ("/admin/tests/", ADMINISTRATOR),
    "GET scheduling.definition_new": ("/admin/tests/new", ADMINISTRATOR),
    "POST scheduling.definition_new": ("/admin/tests/new", ADMINISTRATOR),
    "GET scheduling.definition_detail": ("/admin/tests/{definition}", ADMINISTRATOR),
    "GET scheduling.sessions": ("/admin/sessions/", ADMINISTRATOR),
    "GET scheduling.session_new": ("/admin/sessions/new", ADMINISTRATOR),
    "POST scheduling.session_new": ("/admin/sessions/new", ADMINISTRATOR),
    "GET scheduling.session_detail": ("/admin/sessions/{session}", ADMINISTRATOR),
    "GET scheduling.register": ("/admin/sessions/{session}/register", ADMINISTRATOR),
    "POST scheduling.register": ("/admin/sessions/{session}/register", ADMINISTRATOR),
    "GET scheduling.import_candidates": ("/admin/sessions/{session}/import", ADMINISTRATOR),
    "POST scheduling.import_candidates": ("/admin/sessions/{session}/import", ADMINISTRATOR),
    "GET scheduling.registration": ("/admin/registrations/{registration}", ADMINISTRATOR),
    "POST scheduling.registration": ("/admin/registrations/{registration}", ADMINISTRATOR),
    "GET scheduling.access_codes": ("/admin/sessions/{session}/access-codes", ADMINISTRATOR),
    "POST scheduling.access_codes": ("/admin/sessions/{session}/access-codes", ADMINISTRATOR),
    "GET api-docs.openapi_json": ("/api/openapi.json", EVERYONE),
    "GET api_session.SessionView": ("/api/v1/session", SIGNED_IN),
    "GET api_bank.ItemsView": ("/api/v1/items", PSYCHOMETRICIAN),
    "POST api_bank.ItemsView": ("/api/v1/items", PSYCHOMETRICIAN),
    "GET api_bank.ItemView": ("/api/v1/items/{item}", PSYCHOMETRICIAN),
    "PUT api_bank.ItemView": ("/api/v1/items/{item}", PSYCHOMETRICIAN),
    "POST api_bank.import_file": ("/api/v1/items/import", PSYCHOMETRICIAN),
    "GET api_bank.export_file": ("/api/v1/items/export?format=json", PSYCHOMETRICIAN),
    "POST api_bank.item_status": ("/api/v1/items/{item}/status", PSYCHOMETRICIAN),
    "POST api_bank.approve_parameter_set": (
        "/api/v1/parameter-sets/{parameter_set}/approve",
        PSYCHOMETRICIAN,
    ),
    "POST api_bank.reject_parameter_set": ("/api/v1/parameter-sets/{parameter_set}/reject", PSYCHOMETRICIAN),
    "GET api_bank.StimuliView": ("/api/v1/stimuli", PSYCHOMETRICIAN),
    "POST api_bank.StimuliView": ("/api/v1/stimuli", PSYCHOMETRICIAN),
    "GET api_bank.StimulusView": ("/api/v1/stimuli/{stimulus}", PSYCHOMETRICIAN),
    "PUT api_bank.StimulusView": ("/api/v1/stimuli/{stimulus}", PSYCHOMETRICIAN),
    "POST api_bank.stimulus_items": ("/api/v1/stimuli/{stimulus}/items", PSYCHOMETRICIAN),
    # campaigns: {campaign} has the commission user on its panel and the candidate enrolled as {code};
    # {stage} is its test stage, {rated} its interview
    "GET results.index": ("/campaigns/", frozenset({"administrator", "commission"})),
    "GET results.new": ("/campaigns/new", ADMINISTRATOR),
    "POST results.new": ("/campaigns/new", ADMINISTRATOR),
    "GET results.detail": ("/campaigns/{campaign}", ADMINISTRATOR),
    "POST results.enrol": ("/campaigns/{campaign}/enrol", ADMINISTRATOR),
    "POST results.add_member": ("/campaigns/{campaign}/members", ADMINISTRATOR),
    "GET results.stage": ("/campaigns/{campaign}/stages/{stage}", ADMINISTRATOR),
    "POST results.stage": ("/campaigns/{campaign}/stages/{stage}", ADMINISTRATOR),
    "POST results.release": ("/campaigns/{campaign}/release", ADMINISTRATOR),
    "POST results.rescore": ("/campaigns/{campaign}/stages/{stage}/rescore", ADMINISTRATOR),
    "GET results.ranking": ("/campaigns/{campaign}/ranking", frozenset({"administrator", "commission"})),
    "GET results.ranking_csv": (
        "/campaigns/{campaign}/ranking.csv",
        frozenset({"administrator", "commission"}),
    ),
    "GET results.profile": (
        "/campaigns/{campaign}/candidates/{code}",
        frozenset({"administrator", "commission"}),
    ),
    "POST results.rate": (
        "/campaigns/{campaign}/candidates/{code}/ratings/{rated}",
        frozenset({"commission"}),
    ),
    "GET results.agreement": ("/campaigns/{campaign}/agreement", frozenset({"administrator", "commission"})),
    "GET results.report_pdf": (
        "/campaigns/{campaign}/report.pdf",
        frozenset({"administrator", "commission"}),
    ),
    "GET results.my_results": ("/my/results", CANDIDATE),
    "GET api_results.CampaignsView": ("/api/v1/campaigns", frozenset({"administrator", "commission"})),
    "POST api_results.CampaignsView": ("/api/v1/campaigns", ADMINISTRATOR),
    "GET api_results.RankingView": (
        "/api/v1/campaigns/{campaign}/ranking",
        frozenset({"administrator", "commission"}),
    ),
    "GET api_results.ProfileView": (
        "/api/v1/campaigns/{campaign}/candidates/{code}",
        frozenset({"administrator", "commission"}),
    ),
    "PUT api_results.RatingsView": (
        "/api/v1/campaigns/{campaign}/candidates/{code}/ratings/{rated}",
        frozenset({"commission"}),
    ),
    "POST api_results.ReleaseView": ("/api/v1/campaigns/{campaign}/release", ADMINISTRATOR),
    "GET api_results.MyResultsView": ("/api/v1/my/results", CANDIDATE),
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def test_every_route_and_method_is_in_the_matrix(app):
    routes = {
        f"{method} {rule.endpoint}"
        for rule in app.url_map.iter_rules()
        for method in rule.methods - IGNORED_METHODS
    }
    assert routes - MATRIX.keys() == set(), "add the new routes to MATRIX with the roles allowed"
    assert MATRIX.keys() - routes == set(), "MATRIX names routes the app no longer has"


@pytest.fixture
def objects(app, users) -> dict[str, object]:
    with app.app_context():
        author = db.session.get(User, users["psychometrician"])
        item = bank_services.save_item(
            ItemSpec(
                code="K-M-1",
                format="single_best",
                versions={"en": LanguageVersion("Stem?", ("a", "b", "c", "d"))},
                key={"correct": 0},
                domain="civil",
            ),
            actor=author,
        )
        proposal = bank_services.propose_parameters(
            item, model="2pl", a=1.0, b=[0.0], provenance={}, actor=None
        )
        stimulus = bank_services.save_stimulus(
            "CASE-M-1", title={}, texts={"en": "A case."}, actor=author, create=True
        )
        dataset = ResponseDataset(
            name="d", source="test", item_codes=["K-M-1"], n_persons=0, sha256="0" * 64, data=b""
        )
        run = CalibrationRun(dataset=dataset, settings={"linking": "none"}, created_by_id=author.id)
        db.session.add(run)
        db.session.commit()
        definition = delivery_services.create_definition(
            "Matrix",
            [
                {
                    "title": {"en": "S"},
                    "family": "knowledge",
                    "time_limit_seconds": 60,
                    "mode": "fixed",
                    "config": {"items": ["K-M-1"]},
                }
            ],
            actor=None,
        )
        now = datetime(2026, 1, 1)
        session = delivery_services.create_session(
            definition,
            name="Room",
            opens_at=now,
            closes_at=now + timedelta(hours=1),
            proctors=[db.session.get(User, users["proctor"])],
            actor=None,
        )
        registration = delivery_services.register(
            session, db.session.get(User, users["candidate"]), actor=None
        )
        from assessment.results import campaigns

        campaign = campaigns.create_campaign(
            name="Matrix round",
            stages=[
                campaigns.StagePlan(
                    "Knowledge", "test", 1.0, definition_id=definition.id, section_position=0
                ),
                campaigns.StagePlan("Interview", "rated", 1.0, criteria=("integrity",)),
            ],
            members=[db.session.get(User, users["commission"])],
            actor=db.session.get(User, users["administrator"]),
            now=now,
        )
        [enrolled] = campaigns.enrol_from_sessions(campaign, actor=None, now=now)
        return {
            "campaign": campaign.id,
            "stage": campaign.stages[0].id,
            "rated": campaign.stages[1].id,
            "code": enrolled.code,
            "user": users["candidate"],
            "item": item.code,
            "parameter_set": proposal.id,
            "run": run.id,
            "session": session.id,
            "attempt": registration.attempt.id,
            "registration": registration.id,
            "definition": definition.id,
            "stimulus": stimulus.code,
        }


@pytest.mark.parametrize("who", [ANON, *ROLES])
def test_each_role_reaches_only_its_own_pages(app, users, objects, who):
    client = app.test_client()
    if who != ANON:
        assert sign_in(client, who).status_code == 302
    failures = []
    for route, (url, allowed) in MATRIX.items():
        method, endpoint = route.split(" ")
        if route in ("POST auth.sign_out", "POST auth.sign_in"):
            continue  # would end or replace this client's session; covered in test_auth
        response = client.open(url.format(**objects), method=method)
        location = response.headers.get("Location", "")
        refused = response.status_code in (401, 403) or (
            response.status_code == 302 and "/sign-in" in location and endpoint != "auth.sign_in"
        )
        if (who in allowed) == refused:
            failures.append(f"{method} {url}: {response.status_code} {location}")
    assert failures == [], f"{who}: " + "; ".join(failures)


@pytest.mark.parametrize("who", ["psychometrician", "proctor", "candidate", "commission"])
def test_non_administrators_cannot_create_accounts(app, users, who):
    client = app.test_client()
    sign_in(client, who)
    response = client.post(
        "/admin/users/new",
        data={
            "username": "intruder",
            "full_name": "I",
            "role": "administrator",
            "language": "en",
            "password": "x" * 12,
        },
    )
    assert response.status_code == 403
    anonymous = app.test_client().post("/admin/users/new", data={"username": "intruder"})
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]
