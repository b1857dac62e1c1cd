"""Stored tokens are encrypted; old keys still read them; rotation re-encrypts (item 9)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from b24app.security import TokenCipher, UnreadableSecret
from b24app.storage.db import Database
from tests.helpers import Stack


def _raw_tokens(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT access_token, refresh_token FROM b24_tokens"))


def test_tokens_are_stored_encrypted(installed: Stack, tmp_path: Path) -> None:
    opened = installed.open(2)
    assert opened.token
    raw = _raw_tokens(tmp_path / "app.sqlite3")
    assert len(raw) == 2
    issued = set(installed.emu.tokens.access) | set(installed.emu.tokens.refresh)
    for access, refresh in raw:
        assert access not in issued and refresh not in issued
        assert access.startswith("gAAAA") and refresh.startswith("gAAAA")  # Fernet tokens
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    assert installed.db.get_token(portal.id, 2).access_token in issued


def test_cipher_round_trip_and_rotation() -> None:
    old = TokenCipher("old-secret")
    stored = old.encrypt("AT_1")
    assert stored != "AT_1" and old.decrypt(stored) == "AT_1"
    new = TokenCipher("new-secret", ["old-secret"])
    assert new.decrypt(stored) == "AT_1"
    rotated = new.rotate(stored)
    assert TokenCipher("new-secret").decrypt(rotated) == "AT_1"
    with pytest.raises(UnreadableSecret):
        TokenCipher("new-secret").decrypt(stored)
    with pytest.raises(UnreadableSecret):
        new.decrypt("not a ciphertext")


def test_a_pair_no_key_opens_reads_as_reauth_required(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = Database(url, cipher=TokenCipher("key-1"))
    first.create_tables()
    portal = first.upsert_portal(
        member_id="m1",
        domain="portal-a.example.com",
        scheme="https",
        client_endpoint="https://portal-a.example.com/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
    )
    first.store_token(
        portal_id=portal.id, user_id=1, access_token="AT_1", refresh_token="RT_1", expires_at=1
    )
    other = Database(url, cipher=TokenCipher("key-2"))
    pair = other.get_token(portal.id, 1)
    assert pair is not None and pair.status == "reauth_required"
    assert pair.access_token == "" and pair.refresh_token == ""
    rotating = Database(url, cipher=TokenCipher("key-2", ["key-1"]))
    assert rotating.get_token(portal.id, 1).access_token == "AT_1"
    assert rotating.rotate_token_keys() == (1, 0)
    assert other.get_token(portal.id, 1).refresh_token == "RT_1"


def test_cli_rotates_keys_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    db = Database(url, cipher=TokenCipher("old-key"))
    db.create_tables()
    portal = db.upsert_portal(
        member_id="m1",
        domain="portal-a.example.com",
        scheme="https",
        client_endpoint="https://portal-a.example.com/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
    )
    db.store_token(
        portal_id=portal.id, user_id=1, access_token="AT_1", refresh_token="RT_1", expires_at=1
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "B24_CLIENT_ID": "local.x.y",
        "B24_CLIENT_SECRET": "s",
        "B24_APP_URL": "https://app.example.com",
        "SECRET_KEY": "session-key",
        "B24_TOKEN_KEY": "new-key",
        "B24_TOKEN_KEYS_OLD": "old-key",
        "DATABASE_URL": url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "b24app.cli", "rotate-token-keys"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1" in done.stdout
    assert Database(url, cipher=TokenCipher("new-key")).get_token(portal.id, 1).access_token == (
        "AT_1"
    )
