"""Interface languages: choosing the locale and compiling the message catalogues."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import gettext
from flask_login import current_user

SOURCE_DIR = Path(__file__).parent / "translations"


def translate(message: str, **values: Any) -> str:
    """The message in the user's language; in English outside a request (CLI, jobs): no locale there."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


def select_locale() -> str:
    """The user's own language, else this browser's choice, else the best match of Accept-Language."""
    languages = current_app.config["LANGUAGES"]
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    chosen = session.get("language")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]


def compile_catalogues(target: Path) -> Path:
    """Compile the shipped .po files into ``target`` (an instance folder) when they are missing or stale.

    Compiled catalogues are build output, so they are not kept in the repository; compiling at start-up keeps
    the README's one-line set-up commands free of a separate build step.
    """
    for po_path in SOURCE_DIR.glob("*/LC_MESSAGES/messages.po"):
        lang = po_path.parent.parent.name
        mo_path = target / lang / "LC_MESSAGES" / "messages.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        # a name of this process's own: workers of one server starting together compile side by side
        tmp = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo_path)
    return target


def init_app(app: Flask) -> None:
    from assessment.extensions import babel

    target = compile_catalogues(Path(app.instance_path) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    babel.init_app(app, locale_selector=select_locale)
