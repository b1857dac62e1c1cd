"""Stored tokens are encrypted, application_tokens hashed; old keys still read them (item 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from b24app.security import TokenCipher, UnreadableSecret
from b24app.storage.db import Database
from tests.databases import database_url
from tests.helpers import Stack


def _raw(url: str, sql: str) -> list[Any]:
    """Rows as stored, read past the app's own code."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _raw_tokens(url: str) -> list[tuple[str, str]]:
    return [tuple(row) for row in _raw(url, "SELECT access_token, refresh_token FROM b24_tokens")]


def _url(stack: Stack) -> str:
    return str(stack.app.extensions["b24app"].settings.database_url)


def test_tokens_are_stored_encrypted(installed: Stack) -> None:
    opened = installed.open(2)
    assert opened.token
    raw = _raw_tokens(_url(installed))
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
    url = database_url(tmp_path)
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
    url = database_url(tmp_path)
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


def _raw_application_tokens(url: str) -> list[str | None]:
    return [row[0] for row in _raw(url, "SELECT application_token FROM b24_portals")]


def test_application_tokens_are_stored_as_keyed_hashes(installed: Stack) -> None:
    assert installed.portal.send_install_event().status_code == 200
    token = installed.portal.application_token
    assert token
    (raw,) = _raw_application_tokens(_url(installed))
    assert raw and raw.startswith("hmac-sha256:") and token not in raw
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    assert installed.db.application_token_matches(portal, token) is True
    assert installed.db.application_token_matches(portal, "f" * 32) is False
    assert installed.db.application_token_matches(portal, "") is False
    assert installed.open(2).token  # the frame POST's APPLICATION_TOKEN still matches


def test_digests_under_old_keys_still_match_and_unknown_keys_read_as_absent() -> None:
    old = TokenCipher("old-secret")
    stored = old.digest("APP_TOKEN_A")
    assert stored.startswith("hmac-sha256:") and "APP_TOKEN_A" not in stored
    assert old.digest_matches("APP_TOKEN_A", stored) is True
    assert old.digest_matches("APP_TOKEN_B", stored) is False
    new = TokenCipher("new-secret", ["old-secret"])
    assert new.digest_matches("APP_TOKEN_A", stored) is True
    assert not new.digest_is_current(stored) and new.digest_is_current(new.digest("x"))
    assert TokenCipher("new-secret").digest_matches("APP_TOKEN_A", stored) is None
    # A value stored before hashing is compared as it is (and hashed when next seen).
    assert new.digest_matches("APP_TOKEN_A", "APP_TOKEN_A") is True
    assert new.digest_matches("APP_TOKEN_B", "APP_TOKEN_A") is False
    # The digest key is not the encryption key: a hash never opens a ciphertext or vice versa.
    assert new.digest("APP_TOKEN_A") != TokenCipher("new-secret").encrypt("APP_TOKEN_A")


def _portal_with_app_token(db: Database, token: str) -> int:
    portal = db.upsert_portal(
        member_id="m1",
        domain="portal-a.example.com",
        scheme="https",
        client_endpoint="https://portal-a.example.com/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
        application_token=token,
    )
    return portal.id


def test_a_match_under_an_old_key_is_rehashed_under_the_current_one(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    first = Database(url, cipher=TokenCipher("key-1"))
    first.create_tables()
    portal_id = _portal_with_app_token(first, "APP_TOKEN_A")
    rotating = Database(url, cipher=TokenCipher("key-2", ["key-1"]))
    portal = rotating.get_portal(portal_id=portal_id)
    assert rotating.hash_application_tokens() == (0, 1)
    assert rotating.application_token_matches(portal, "APP_TOKEN_B") is False
    assert rotating.application_token_matches(portal, "APP_TOKEN_A") is True
    assert rotating.hash_application_tokens() == (0, 0)
    only_new = Database(url, cipher=TokenCipher("key-2"))
    assert only_new.application_token_matches(
        only_new.get_portal(portal_id=portal_id), "APP_TOKEN_A"
    )


def test_rotation_command_hashes_application_tokens_stored_in_plain(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    db = Database(url, cipher=TokenCipher("key-1"))
    db.create_tables()
    portal_id = _portal_with_app_token(db, "APP_TOKEN_A")
    # as an earlier version stored it
    _raw(url, "UPDATE b24_portals SET application_token = 'APP_TOKEN_A'")
    portal = db.get_portal(portal_id=portal_id)
    assert db.application_token_matches(portal, "APP_TOKEN_A") is True  # and re-hashed
    assert _raw_application_tokens(url)[0].startswith("hmac-sha256:")
    _raw(url, "UPDATE b24_portals SET application_token = 'APP_TOKEN_A'")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "B24_CLIENT_ID": "local.x.y",
        "B24_CLIENT_SECRET": "s",
        "B24_APP_URL": "https://app.example.com",
        "SECRET_KEY": "key-1",
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
    assert "hashed 1 plain application_token" in done.stdout
    (raw,) = _raw_application_tokens(url)
    assert raw and raw.startswith("hmac-sha256:") and "APP_TOKEN_A" not in raw
    assert db.application_token_matches(db.get_portal(portal_id=portal_id), "APP_TOKEN_A") is True
