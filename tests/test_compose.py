"""docker compose runs migrations once as the database owner and the app as the app role."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_uses_the_two_database_roles_and_migrates_once() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    migrate = services["migrate"]
    assert "ankommen_owner:" in migrate["environment"]["DATABASE_URL"]
    assert "migrate --noinput" in migrate["command"][-1]
    assert "grant_app_role --role ankommen_app" in migrate["command"][-1]
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert "ankommen_app:" in service["environment"]["DATABASE_URL"], name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in " ".join(service["command"]), name
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in services["db"]["volumes"]
    assert (ROOT / "docker/postgres-init/10-roles.sh").read_text().count("CREATE ROLE") == 2


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_only_the_one_off_migrate_service_runs_migrations() -> None:
    services = _services()
    running_migrate = [name for name, s in services.items() if "manage.py migrate" in _command(s)]
    assert running_migrate == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    # Nor does the image's default command or an entrypoint (web would inherit it).
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENTRYPOINT" not in dockerfile
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "migrate" not in cmd and "gunicorn" in cmd


def test_web_can_be_scaled_behind_the_proxy() -> None:
    services = _services()
    web = services["web"]
    # A fixed host port makes `--scale web=3` fail (three containers, one port).
    assert "ports" not in web
    assert "container_name" not in web and "container_name" not in services["worker"]
    assert "8000" in [str(p) for p in web.get("expose", [])]
    assert web["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    # gunicorn as docs/performance.md recommends: sync workers from WEB_CONCURRENCY.
    assert "--preload" in web["command"] and "--workers" not in web["command"]
    assert web["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-4}"
    proxy = services["proxy"]
    assert proxy["depends_on"]["web"] == {"condition": "service_healthy"}
    assert any(str(p).endswith(":80") for p in proxy["ports"])
    assert "lb-healthz" in " ".join(proxy["healthcheck"]["test"])
    mount = next(v for v in proxy["volumes"] if "docker/proxy/" in v)
    template = (ROOT / mount.split(":")[0].removeprefix("./")).read_text()
    # Round robin over every replica Docker's DNS names, re-resolved as replicas come and go.
    assert "resolver 127.0.0.11" in template
    assert "server web:8000 resolve" in template
    assert "proxy_pass http://web;" in template
    # One X-Forwarded-For entry (TRUSTED_PROXY_COUNT=1) that the client cannot choose, and
    # X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER) only believed from the trusted front.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in template
    assert "proxy_set_header X-Forwarded-Proto $forwarded_proto;" in template
    assert '"1:https" https;' in template
    assert "location = /lb-healthz" in template


def test_the_app_trusts_exactly_the_headers_the_proxy_sets() -> None:
    from django.conf import settings

    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


def test_exactly_one_beat_and_shared_state() -> None:
    services = _services()
    beats = [name for name, s in services.items() if " beat" in _command(s)]
    assert beats == ["beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    # Sessions in the database (Django's default engine), cache and broker in Redis servers
    # every replica reaches by name.
    from django.conf import settings

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    env = services["web"]["environment"]
    for name in ("web", "worker", "beat"):
        assert (
            services[name]["environment"]["CACHE_URL"]
            == env["CACHE_URL"]
            == ("redis://cache:6379/0")
        )
        assert services[name]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
