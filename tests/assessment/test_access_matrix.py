"""Every route, every role: each role reaches only its own pages.

The matrix below is the specification. A route added to the app without a row here fails the suite, so that
nobody ships a page without deciding who may use it.
"""

from __future__ import annotations

import pytest

from assessment.auth.models import User
from assessment.bank import services as bank_services
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from tests.assessment.conftest import sign_in

ANON = "anonymous"
ROLES = ("administrator", "psychometrician", "proctor", "candidate", "commission")
EVERYONE = frozenset((ANON, *ROLES))
SIGNED_IN = frozenset(ROLES)
PSYCHOMETRICIAN = frozenset({"psychometrician"})

# endpoint -> (method, url, roles allowed). Placeholders: {user} the candidate's account id,
# {item} an item code, {parameter_set} a proposed parameter set of that item.
MATRIX: dict[str, tuple[str, str, frozenset[str]]] = {
    "static": ("GET", "/static/css/app.css", EVERYONE),
    "health.healthz": ("GET", "/healthz", EVERYONE),
    "auth.sign_in": ("GET", "/sign-in", EVERYONE),
    "auth.sign_out": ("POST", "/sign-out", SIGNED_IN),
    "auth.set_language": ("POST", "/language", EVERYONE),
    "main.home": ("GET", "/", SIGNED_IN),
    "main.admin_home": ("GET", "/admin/", frozenset({"administrator"})),
    "main.proctor_home": ("GET", "/proctor/", frozenset({"proctor"})),
    "main.candidate_home": ("GET", "/exam/", frozenset({"candidate"})),
    "main.commission_home": ("GET", "/commission/", frozenset({"commission"})),
    "bank.index": ("GET", "/bank/", PSYCHOMETRICIAN),
    "bank.item_detail": ("GET", "/bank/items/{item}", PSYCHOMETRICIAN),
    "bank.item_new": ("GET", "/bank/items/new", PSYCHOMETRICIAN),
    "bank.item_edit": ("GET", "/bank/items/{item}/edit", PSYCHOMETRICIAN),
    "bank.item_status": ("POST", "/bank/items/{item}/status", PSYCHOMETRICIAN),
    "bank.parameters_approve": ("POST", "/bank/parameters/{parameter_set}/approve", PSYCHOMETRICIAN),
    "bank.parameters_reject": ("POST", "/bank/parameters/{parameter_set}/reject", PSYCHOMETRICIAN),
    "users.index": ("GET", "/admin/users/", frozenset({"administrator"})),
    "users.create": ("GET", "/admin/users/new", frozenset({"administrator"})),
    "users.edit": ("GET", "/admin/users/{user}", frozenset({"administrator"})),
    "users.set_password": ("POST", "/admin/users/{user}/password", frozenset({"administrator"})),
    "users.sign_out_everywhere": (
        "POST",
        "/admin/users/{user}/sign-out-everywhere",
        frozenset({"administrator"}),
    ),
}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - MATRIX.keys() == set(), "add the new routes to MATRIX with the roles allowed"
    assert MATRIX.keys() - endpoints == set(), "MATRIX names routes the app no longer has"


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
        return {"user": users["candidate"], "item": item.code, "parameter_set": proposal.id}


@pytest.mark.parametrize("who", [ANON, *ROLES])
def test_each_role_reaches_only_its_own_pages(app, users, objects, who):
    client = app.test_client()
    if who != ANON:
        assert sign_in(client, who).status_code == 302
    failures = []
    for endpoint, (method, url, allowed) in MATRIX.items():
        if endpoint == "auth.sign_out":
            continue  # would end this client's session; covered in test_auth
        response = client.open(url.format(**objects), method=method)
        location = response.headers.get("Location", "")
        refused = response.status_code == 403 or (
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
