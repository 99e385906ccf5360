"""Brute force against the sign-in form is throttled without locking the real user out."""

from __future__ import annotations

from tests.assessment.conftest import sign_in


def test_repeated_failures_on_one_account_are_throttled_but_the_owner_elsewhere_gets_in(make_app, users):
    app = make_app(
        RATELIMIT_ENABLED=True,
        LOGIN_LIMIT_PER_ACCOUNT_AND_IP="5 per 15 minutes",
        LOGIN_LIMIT_PER_ACCOUNT="50 per hour",
        LOGIN_LIMIT_PER_IP="1000 per minute",
    )
    attacker = app.test_client()
    statuses = [
        sign_in(
            attacker, "administrator", password=f"guess number {i}", environ_base={"REMOTE_ADDR": "10.9.9.9"}
        ).status_code
        for i in range(8)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    # The correct password from the attacker's address is refused too while throttled ...
    assert sign_in(attacker, "administrator", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 429
    # ... but the owner, from their own address, signs in.
    owner = app.test_client()
    assert sign_in(owner, "administrator", environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 302


def test_successful_sign_ins_do_not_use_up_the_account_budget(make_app, users):
    app = make_app(
        RATELIMIT_ENABLED=True,
        LOGIN_LIMIT_PER_ACCOUNT_AND_IP="3 per 15 minutes",
        LOGIN_LIMIT_PER_ACCOUNT="3 per hour",
        LOGIN_LIMIT_PER_IP="1000 per minute",
    )
    for _ in range(6):
        client = app.test_client()
        assert sign_in(client, "candidate").status_code == 302


def test_one_address_spraying_many_accounts_is_throttled(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="4 per minute")
    client = app.test_client()
    statuses = [sign_in(client, f"user{i}", password="x" * 12).status_code for i in range(6)]
    assert statuses == [401] * 4 + [429] * 2


def test_sign_in_works_with_rate_limits_on_and_redis_down(make_app, users):
    # The limiter keeps its counters in Redis when configured; Redis down must not stop anyone signing in.
    app = make_app(RATELIMIT_ENABLED=True, REDIS_URL="redis://127.0.0.1:1/0")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"
    assert sign_in(app.test_client(), "candidate").status_code == 302
    assert sign_in(app.test_client(), "candidate", password="wrong password").status_code == 401
