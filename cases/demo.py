"""Demo cases for seed_demo (extended by the cases issue)."""

from __future__ import annotations

from typing import Any


def seed_cases(*, users: dict[str, Any], districts: dict[str, Any], institutions: dict[str, Any]) -> int:
    return 0
