"""Event delivery (CASE-05): answered 200 at once, verified constant-time, repeats harmless."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest
import requests

from b24app import app_context
from b24app.web.events import wait_for_events
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
    assert wait_for_events()  # all three handled (in the background), whatever their order
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


def test_case05_slow_processing_never_delays_the_answer(installed: Stack) -> None:
    stack = installed
    assert stack.open(1).token
    real = stack.portal.application_token
    stack.portal.delays["app.info"] = 1.5  # the uninstall check waits on a slow portal
    stack.emu.tokens.revoke_portal(stack.portal.member_id)  # Bitrix24 revokes, then tells
    form = {
        "event": "ONAPPUNINSTALL",
        "data[CLEAN]": "0",
        "ts": "1700000200",
        "auth[member_id]": stack.portal.member_id,
        "auth[application_token]": real,
        "auth[domain]": stack.portal.domain,
    }
    started = time.monotonic()
    answer = requests.post(f"{stack.url}/events", data=form, timeout=10)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1.0
    assert stack.db.get_portal(member_id=stack.portal.member_id).state == "installed"
    wait_until(
        lambda: stack.db.get_portal(member_id=stack.portal.member_id).state == "uninstalled",
        timeout=15,
    )


_SECOND_PROCESS = """
import json, logging, sys
from b24app import create_app
from b24app.web.events import wait_for_events
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
app = create_app(json.loads(sys.argv[1]))
print("status", app.test_client().post("/events", data=json.loads(sys.argv[2])).status_code)
assert wait_for_events()
"""


def test_case05_a_repeat_is_dropped_by_another_process_too(
    installed: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24app")
    stack = installed
    assert stack.open(1).token
    form = _crm_event(stack, stack.portal.application_token, ts="1700000300")
    assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    assert wait_for_events()
    member = stack.portal.member_id
    assert f"ONCRMDEALUPDATE for {member}: ignored: unhandled event" in caplog.text
    # Another process of the app (gunicorn runs several) gets the same delivery again.
    settings = app_context(stack.app).settings
    config = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "app_url": settings.app_url,
        "secret_key": settings.secret_key,
        "database_url": settings.database_url,
        "oauth_servers": list(settings.oauth_servers),
        "allow_insecure": True,
        "run_worker": False,
    }
    second = subprocess.run(
        [sys.executable, "-c", _SECOND_PROCESS, json.dumps(config), json.dumps(form)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "status 200" in second.stdout
    repeat = f"ONCRMDEALUPDATE for {member}: ignored: repeated delivery"
    assert repeat in second.stdout, second.stdout + second.stderr
    # a forged copy with a later ts is refused, and does not use up a genuine delivery's turn
    forged = _crm_event(stack, "FORGED", ts="1700000400")
    requests.post(f"{stack.url}/events", data=forged, timeout=10)
    assert wait_for_events()
    genuine = _crm_event(stack, stack.portal.application_token, ts="1700000400")
    requests.post(f"{stack.url}/events", data=genuine, timeout=10)
    assert wait_for_events()
    assert caplog.text.count(": ignored: unhandled event") == 2
