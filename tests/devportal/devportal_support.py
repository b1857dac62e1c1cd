"""Helpers shared by the emulator tests."""

from __future__ import annotations

from typing import Any

import requests

from b24app.devportal import Portal

CLIENT_ID = "local.test0000000001.00000001"
CLIENT_SECRET = "s3cret-for-tests"


def token_for(portal: Portal, user_id: int = 1) -> str:
    """Return a fresh access token of a user (as opened in a frame)."""
    return portal.frame_post(user_id).form["AUTH_ID"]


def call(
    portal: Portal, method: str, token: str, params: dict[str, Any] | None = None
) -> requests.Response:
    """POST a REST method with a JSON body."""
    body = dict(params or {})
    body["auth"] = token
    return requests.post(f"{portal.url}/rest/{method}.json", json=body, timeout=10)
