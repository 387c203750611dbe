"""Lag-tolerant reads go to the replica when DATABASE_REPLICA_URL is set (coordination/replica)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

from django.conf import settings

from coordination.replica import read_replica
from coordination.selectors import audit_entries_matching

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_replica_everything_reads_the_primary() -> None:
    assert "replica" not in settings.DATABASES
    assert read_replica() == "default"
    assert audit_entries_matching({"user": "adm"}).db == "default"


def test_with_a_replica_the_audit_search_reads_it() -> None:
    replica = {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}}
    with mock.patch.dict(settings.DATABASES, {"replica": replica}):
        assert read_replica() == "replica"
        assert audit_entries_matching({"user": "adm"}).db == "replica"  # no query run


def test_the_replica_setting_makes_the_alias_with_the_primarys_connection_rules() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": "postgres://app@primary.example:5432/ankommen",
        "DATABASE_REPLICA_URL": "postgres://app@replica.example:5432/ankommen?sslmode=require",
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['replica'], default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    replica = json.loads(out.stdout.strip().splitlines()[-1])
    assert replica["HOST"] == "replica.example"
    assert replica["OPTIONS"]["sslmode"] == "require"
    assert replica["CONN_MAX_AGE"] == 60 and replica["CONN_HEALTH_CHECKS"] is True
    assert replica["TEST"]["MIRROR"] == "default"
