"""The layers hold: coordination (base) <- cases <- referrals <- monitoring, demo.

``lint-imports`` (import-linter, ``[tool.importlinter]`` in pyproject.toml, run by
``make lint``) refuses an upward import; this module runs it too, and refuses the way around
it: ``apps.get_model("another_app", ...)`` in a lower app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The apps that must not reach an app above them by name (the base and the lowest app).
LOWER_APPS = ("coordination", "cases", "referrals", "offers")
GET_MODEL = re.compile(r"""get_model\(\s*["']([A-Za-z_]\w*)["'.]""")

# Known uses: none. A lower app that needs something of a higher one gets it through a
# contribution registered in the higher app's AppConfig.ready() (cases/extensions.py).
ALLOWED: dict[tuple[str, str], int] = {}


def get_model_uses() -> dict[tuple[str, str], int]:
    """(file, app named) -> how often a lower app's module names another app's model."""
    found: dict[tuple[str, str], int] = {}
    for app in LOWER_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # historical models of the app's own migrations
            for label in GET_MODEL.findall(path.read_text(encoding="utf-8")):
                if label != app:
                    key = (path.relative_to(ROOT).as_posix(), label)
                    found[key] = found.get(key, 0) + 1
    return found


def test_lower_apps_do_not_reach_higher_apps_through_get_model() -> None:
    assert get_model_uses() == ALLOWED, (
        "apps.get_model() must not dodge the layers: let the higher app register what the "
        "lower one needs (AppConfig.ready). Known uses are listed in ALLOWED."
    )


def test_the_check_finds_a_new_get_model() -> None:
    sample = 'Referral = apps.get_model("referrals", "Referral")\nx = get_model("cases.Case")'
    assert GET_MODEL.findall(sample) == ["referrals", "cases"]


def test_the_import_contract_is_kept() -> None:
    pytest.importorskip("importlinter", reason="import-linter is a dev dependency")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
