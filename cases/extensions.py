"""What the apps above ``cases`` add to a case, without ``cases`` importing them.

``cases`` sits below ``referrals`` (and later ``offers``): it must not import them, and it
must not dodge that with ``apps.get_model``. Where a case-level feature needs their data (the
Art. 15 copy, the archive hand-over, erasure, "has an open referral"), the upper app registers
a :class:`CaseExtension` in its ``AppConfig.ready()``; the case code asks the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cases.models import Case


@dataclass(frozen=True)
class CaseExtension:
    """One upper app's contribution to a case.

    - ``name``: the key of its section in the full record (e.g. ``"referrals"``).
    - ``has_open``: True while the case has something open there that blocks closing or
      holding the case (an open referral).
    - ``record``: its rows for the full record, a list of dicts each with ``id``, ``rows``
      (label/value/display triples) and the plain values.
    - ``access_details``: adds Art. 15 details to the record's items in place (reminders).
    - ``recipients``: for the record's items, the organisation each audited object was
      disclosed to: ``{(object_type, object_id): organisation}``.
    - ``coded_reasons``: reasons from a closed list in the case history (kept on erasure).
    """

    name: str
    has_open: Callable[[Case], bool] | None = None
    record: Callable[[Case], list[dict[str, Any]]] | None = None
    access_details: Callable[[list[dict[str, Any]]], None] | None = None
    recipients: Callable[[list[dict[str, Any]]], Mapping[tuple[str, str], str]] | None = None
    coded_reasons: Callable[[], set[str]] = field(default=set)


_REGISTRY: dict[str, CaseExtension] = {}


def register(extension: CaseExtension) -> None:
    """Register (or replace, on a second ``ready()``) an upper app's contribution."""
    _REGISTRY[extension.name] = extension


def extensions() -> tuple[CaseExtension, ...]:
    """The registered contributions, in the order of registration (INSTALLED_APPS)."""
    return tuple(_REGISTRY.values())


def case_has_open_work(case: Case) -> bool:
    """True while any upper app holds something open for the case (e.g. a referral)."""
    return any(ext.has_open(case) for ext in extensions() if ext.has_open is not None)


def coded_reasons() -> set[str]:
    """Every coded reason the upper apps write into a case's history."""
    out: set[str] = set()
    for ext in extensions():
        out |= ext.coded_reasons()
    return out
