"""The pinned frame SDK: the CDN URL, its integrity hash and the npm copy are one version."""

from __future__ import annotations

import base64
import hashlib
import json

from b24app.config import DEFAULT_JSSDK_INTEGRITY, DEFAULT_JSSDK_URL, JSSDK_VERSION
from tests.helpers import ROOT, SDK_FILE


def test_the_pinned_version_is_the_one_package_json_installs() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    assert package["dependencies"]["@bitrix24/b24jssdk"] == JSSDK_VERSION
    installed = json.loads((SDK_FILE.parents[2] / "package.json").read_text())
    assert installed["version"] == JSSDK_VERSION
    assert f"@bitrix24/b24jssdk@{JSSDK_VERSION}/dist/umd/index.min.js" in DEFAULT_JSSDK_URL


def test_the_integrity_hash_is_that_of_the_installed_file() -> None:
    digest = hashlib.sha384(SDK_FILE.read_bytes()).digest()
    assert DEFAULT_JSSDK_INTEGRITY == "sha384-" + base64.b64encode(digest).decode("ascii")
