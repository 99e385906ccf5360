"""Navigation of the base layout, per role."""

from __future__ import annotations

from typing import NamedTuple

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from assessment.auth.models import Role


class NavLink(NamedTuple):
    label: str
    endpoint: str


NAVIGATION: dict[Role, tuple[NavLink, ...]] = {
    Role.ADMINISTRATOR: (
        NavLink(_l("Overview"), "main.admin_home"),
        NavLink(_l("Users"), "users.index"),
        NavLink(_l("Tests"), "scheduling.definitions"),
        NavLink(_l("Sessions"), "scheduling.sessions"),
        NavLink(_l("Campaigns"), "results.index"),
    ),
    Role.PSYCHOMETRICIAN: (
        NavLink(_l("Item bank"), "bank.index"),
        NavLink(_l("Calibration"), "calibration.index"),
    ),
    Role.PROCTOR: (NavLink(_l("My sessions"), "main.proctor_home"),),
    Role.CANDIDATE: (
        NavLink(_l("My exams"), "main.candidate_home"),
        NavLink(_l("My results"), "results.my_results"),
    ),
    Role.COMMISSION: (NavLink(_l("Campaigns"), "main.commission_home"),),
}


def navigation() -> list[dict[str, object]]:
    """Links of the signed-in user's role, with the current one marked for ``aria-current``."""
    if not (current_user and current_user.is_authenticated):
        return []
    links = []
    for link in NAVIGATION[current_user.role]:
        url = url_for(link.endpoint)
        links.append({"label": link.label, "url": url, "current": request.path.startswith(url)})
    return links
