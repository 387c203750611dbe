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
