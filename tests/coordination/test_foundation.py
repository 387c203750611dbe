"""The foundation: settings safety, demo data, compose file, Celery (health: test_health.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

from coordination.models import District, Team, User
from referrals.models import Institution, Places

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DEBUG",
             "FIELD_ENCRYPTION", "BLIND_INDEX", "AUDIT_KEY", "DJANGO_SETTINGS"))}  # fmt: skip
    clean.update({"ANKOMMEN_IGNORE_DOTENV": "1", **env})
    return subprocess.run(
        [sys.executable, "-c", "import coordination.settings"],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_production_settings_refuse_to_start_without_secret_key() -> None:
    result = _import_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_models_and_migrations_agree_checked_on_a_bare_checkout() -> None:
    """``makemigrations --check`` needs no secret (a bare CI step runs it); the server does."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DEBUG",
             "FIELD_ENCRYPTION", "BLIND_INDEX", "DJANGO_SETTINGS", "DATABASE_URL"))}  # fmt: skip
    clean["ANKOMMEN_IGNORE_DOTENV"] = "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    served = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert served.returncode != 0 and "SECRET_KEY is not set" in served.stderr


def test_production_settings_refuse_to_start_without_encryption_keys() -> None:
    result = _import_settings({"DEBUG": "0", "SECRET_KEY": "x" * 60})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_the_audit_key() -> None:
    keys = {"FIELD_ENCRYPTION_KEYS": "p1:" + "A" * 43 + "=", "BLIND_INDEX_KEY": "B" * 43 + "="}
    result = _import_settings({"DEBUG": "0", "SECRET_KEY": "x" * 60, **keys})
    assert result.returncode != 0
    assert "AUDIT_KEY must be set in production" in result.stderr
    assert _import_settings({"DEBUG": "0", "SECRET_KEY": "x" * 60, **keys,
                             "AUDIT_KEY": "p1:" + "C" * 43 + "="}).returncode == 0  # fmt: skip


def test_deploy_check_is_clean_under_production_settings() -> None:
    dropped = {"DJANGO_SETTINGS_MODULE", "SECURE_SSL_REDIRECT"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({
        "ANKOMMEN_IGNORE_DOTENV": "1", "DEBUG": "0", "SECRET_KEY": "k" * 30 + "Z9!" + "q" * 30,
        "FIELD_ENCRYPTION_KEYS": "p1:" + "A" * 43 + "=", "BLIND_INDEX_KEY": "B" * 43 + "=",
        "DJANGO_SETTINGS_MODULE": "coordination.settings",
    })  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_seed_demo_twice_gives_the_same_data(db, settings) -> None:
    settings.DEBUG = True
    call_command("seed_demo")

    def snapshot() -> dict[str, object]:
        from cases.models import Case

        return {
            "users": sorted(User.objects.values_list("username", flat=True)),
            "teams": Team.objects.count(),
            "districts": District.objects.count(),
            "institutions": Institution.objects.count(),
            "places": sorted(Places.objects.values_list("institution_id", "group", "free")),
            "cases": sorted(Case.objects.values_list("reference", "state")),
        }

    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert {"coordinator", "coordinator2", "school", "kita", "management", "admin"} <= set(
        first["users"]  # type: ignore[arg-type]
    )
    assert User.objects.get(username="coordinator").check_password("demo")


def test_seed_demo_refuses_without_debug_unless_forced(db, settings) -> None:
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")


def test_compose_file_names_all_services_and_their_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "web", "worker", "beat", "mail"} <= set(services)
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "mailpit" in services["mail"]["image"]
    for name in ("web", "worker", "beat"):
        assert ".env.production" in str(services[name].get("env_file")), name
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
    assert "gunicorn" in " ".join(services["web"]["command"])
    # Migrations run once, in the one-off `migrate` service, never in every web start.
    assert "migrate" not in " ".join(services["web"]["command"])
    assert "migrate" in " ".join(services["migrate"]["command"])
    assert "beat" in " ".join(services["beat"]["command"])
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    for name in ("db", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert not (ROOT / ".env.production").exists(), "secrets must not be committed"


def test_compose_keeps_cache_and_broker_on_separate_redis_servers() -> None:
    """The broker must never lose a message to the cache's eviction, nor wait on the cache."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    env = services["web"]["environment"]
    broker, cache = env["CELERY_BROKER_URL"], env["CACHE_URL"]
    assert broker.split("/")[2] != cache.split("/")[2], "different servers"
    assert "noeviction" in services["redis"]["command"]
    assert "allkeys-lru" in services["cache"]["command"]
    for name in ("web", "worker", "beat"):
        assert "cache" not in services[name].get("depends_on", {}), "the cache is optional"
        assert services[name]["environment"]["CACHE_URL"] == cache


def test_login_page_renders_in_german(client, db) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert response["Content-Language"] == "de" or 'lang="de"' in response.content.decode()


def test_home_sends_each_role_to_its_start_page(client, coordinator, school_user, management_user):
    for user, expected in [
        (coordinator, reverse("cases:dashboard")),
        (school_user, reverse("referrals:inbox")),
        (management_user, reverse("figures")),
    ]:
        client.force_login(user)
        response = client.get(reverse("home"))
        assert response.status_code == 302
        assert response["Location"] == expected
        client.logout()


def test_anonymous_home_redirects_to_login(client, db) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
