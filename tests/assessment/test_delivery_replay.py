"""A retried save is answered from its first result also when the section shuffles the options."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.models import AnswerEvent
from assessment.extensions import db
from tests.assessment.test_calibration import _bank_specs
from tests.assessment.test_delivery import KNOWLEDGE, T0, _attempt, _begin, _save, _user


def test_a_retry_of_a_save_in_a_shuffled_section_is_replayed_not_refused(app, users):
    # Found by bench/http: a retry after a timeout got 422 "key used for a different answer", because the
    # stored event is in the bank's option order and the retry in the displayed one.
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="test")
        definition = services.create_definition(
            "Shuffled",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "fixed",
                    "config": {"items": KNOWLEDGE},
                    "shuffle_options": True,
                }
            ],
            actor=None,
        )
        session = services.create_session(
            definition,
            name="R",
            opens_at=T0,
            closes_at=T0 + timedelta(hours=1),
            proctors=[_user("proctor")],
            actor=None,
        )
        attempt_id = services.register(session, _user("candidate"), actor=None).attempt.id
        _begin(attempt_id)
        for choice in range(4):  # at least one displayed position differs from the bank's
            first = _save(attempt_id, "K-00", choice=choice, seq=choice + 1)
            again = _save(attempt_id, "K-00", choice=choice, seq=choice + 1)
            assert (again.replayed, again.applied, again.seq) == (True, first.applied, first.seq)
        assert len(db.session.execute(db.select(AnswerEvent)).scalars().all()) == 4
        permutation = _attempt(attempt_id).form["sections"][0]["permutations"]["K-00"]
        other = next(c for c in range(4) if permutation[c] != permutation[3])
        with pytest.raises(services.DeliveryError, match="different answer"):
            _save(attempt_id, "K-00", choice=other, seq=4)  # the same key with another answer
