"""Three interface languages: every UI string translated, none hard-coded, switchable on every page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.assessment.conftest import sign_in

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "assessment" / "translations"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with pot.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_every_ui_string_is_translated(extracted, language):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(extracted - translated)
    assert missing == [], f"{language}: {len(missing)} untranslated strings, e.g. {missing[:5]}"


# Text that may stand outside a translation call: the brand, language names (each in its own language),
# and statistical symbols that psychometricians read the same in every language.
ALLOWED_LITERALS = {
    "Tandau",
    "English",
    "Русский",
    "Қазақша",
    "AIC",
    "BIC",
    "SE",
    "SHA",
    "DIF",
    "it",
    "X²",
    "QTI",
    "JSON",
    "CSV",
}


def _visible_literals(source: str) -> list[str]:
    source = re.sub(r"{#.*?#}", " ", source, flags=re.S)
    source = re.sub(r"{%.*?%}|{{.*?}}", " ", source, flags=re.S)
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
    source = re.sub(r"<[^>]*>", " ", source, flags=re.S)
    words = re.findall(r"[^\W\d_]{2,}", source)
    return [w for w in words if w not in ALLOWED_LITERALS]


def test_no_template_text_is_hard_coded():
    offenders = {}
    for path in (ROOT / "templates").rglob("*.html"):
        if literals := _visible_literals(path.read_text(encoding="utf-8")):
            offenders[str(path.relative_to(ROOT))] = literals[:5]
    assert offenders == {}


def test_language_switch_changes_the_page_for_an_anonymous_visitor(client):
    assert "Sign in" in client.get("/sign-in").get_data(as_text=True)
    client.post("/language", data={"language": "ru", "next": "/sign-in"})
    page = client.get("/sign-in").get_data(as_text=True)
    assert 'lang="ru"' in page and "Войти" in page
    client.post("/language", data={"language": "kk", "next": "/sign-in"})
    assert 'lang="kk"' in client.get("/sign-in").get_data(as_text=True)


def test_browser_language_is_the_default(client):
    page = client.get("/sign-in", headers={"Accept-Language": "kk-KZ,kk;q=0.9,ru;q=0.8"}).get_data(
        as_text=True
    )
    assert 'lang="kk"' in page


def test_a_signed_in_user_keeps_their_language_across_devices(app, users):
    first = app.test_client()
    sign_in(first, "candidate")
    first.post("/language", data={"language": "ru", "next": "/exam/"})
    second = app.test_client()
    sign_in(second, "candidate")
    assert 'lang="ru"' in second.get("/exam/").get_data(as_text=True)


def test_every_page_offers_the_language_switch(app, users):
    client = app.test_client()
    sign_in(client, "administrator")
    for url in ("/admin/", "/admin/users/", "/admin/users/new", "/this-page-does-not-exist"):
        page = client.get(url).get_data(as_text=True)
        assert page.count('name="language" value=') == 3, url


def test_redirect_after_language_switch_stays_on_this_site(client):
    response = client.post("/language", data={"language": "ru", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"
