"""Event delivery (CASE-05): answered 200 at once, verified constant-time, repeats harmless."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from tests.helpers import Stack, wait_until


def _crm_event(stack: Stack, application_token: str, ts: str = "1700000100") -> dict[str, str]:
    return {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "42",
        "ts": ts,
        "auth[member_id]": stack.portal.member_id,
        "auth[application_token]": application_token,
        "auth[domain]": stack.portal.domain,
    }


def test_case05_every_delivery_gets_200_and_only_verified_ones_are_acted_on(
    installed: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24app")
    stack = installed
    stack.open(1)  # the app learns the portal's application_token
    real = stack.portal.application_token
    assert real
    for form in (_crm_event(stack, real), _crm_event(stack, real), _crm_event(stack, "FORGED")):
        started = time.monotonic()
        response = requests.post(f"{stack.url}/events", data=form, timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0
    wait_until(lambda: any("security" in r.getMessage() for r in caplog.records), timeout=5)
    handled = [r.getMessage() for r in caplog.records if "ONCRMDEALUPDATE" in r.getMessage()]
    # the repeated delivery was dropped; the forged one was refused, not acted on
    assert sum("ignored: unhandled event" in m for m in handled) == 1
    assert any("wrong application_token" in r.getMessage() for r in caplog.records)
    assert "FORGED" not in "\n".join(r.getMessage() for r in caplog.records)
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"


def test_case05_the_token_comparison_is_constant_time(installed: Stack) -> None:
    import inspect

    from b24app.security import TokenCipher

    assert "hmac.compare_digest" in inspect.getsource(TokenCipher.digest_matches)
    installed.open(1)
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    real = installed.portal.application_token
    assert installed.db.application_token_matches(portal, real)
    wrong = real[:-1] + ("1" if real.endswith("0") else "0")  # one in 16 tokens ends in 0
    assert not installed.db.application_token_matches(portal, wrong)
    assert not installed.db.application_token_matches(portal, "")
