"""The rules a case's data must follow, in one place: the intake/edit form and the services
(``case_register``, ``case_update``) both check them, so an import or any other service caller
cannot store what the form would refuse.

Pure functions over plain values (no database, no request): ``case_data_problems`` takes the
values as the form cleans them and returns the problems as ``(field, message, code, params)``.
The form turns each into ``add_error``; a service raises ``CaseDataInvalid`` (a
``ValidationError`` by field) with the same messages.

Field checks (a date not in the future, lengths, choices) stay on the form's fields; this
module holds the rules between fields: age limits per target, dates after the birth, measles
proof for a Kita, school years for a school.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cases.models import TargetType, groups_for_target

MAX_AGE = 21
# Ages a target can plausibly take (inclusive, in completed years at registration).
TARGET_AGES: dict[str, tuple[int, int]] = {
    TargetType.KITA: (0, 7),
    TargetType.SCHOOL: (5, 19),
    TargetType.VOCATIONAL: (14, MAX_AGE),
}
# Targets that need the years of previous schooling.
SCHOOLING_TARGETS = (TargetType.SCHOOL, TargetType.VOCATIONAL)
# Dates that cannot lie before the birth.
DATES_AFTER_BIRTH = ("arrival_germany", "arrival_city", "waiting_since")


class Problem(NamedTuple):
    """One broken rule: the field it belongs to, the (translatable) message and its code."""

    field: str
    message: Any
    code: str
    params: dict[str, Any] | None = None

    def error(self) -> ValidationError:
        return ValidationError(self.message, code=self.code, params=self.params)


class CaseDataInvalid(ValidationError):
    """Raised by a service given case data the form would refuse (by field, same messages)."""

    def __init__(self, problems: list[Problem]) -> None:
        by_field: dict[str, list[ValidationError]] = {}
        for problem in problems:
            by_field.setdefault(problem.field, []).append(problem.error())
        super().__init__(by_field)
        self.problems = problems


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class _Checker:
    """Collects problems like a form's ``add_error``: a field with a problem drops out of the
    data the later rules see (so one wrong value gives one message, not a chain of them)."""

    def __init__(self, data: Mapping[str, Any], invalid: Collection[str]) -> None:
        self.data = dict(data)
        self.invalid = set(invalid)
        self.problems: list[Problem] = []

    def get(self, name: str) -> Any:
        return self.data.get(name)

    def add(self, field: str, message: Any, code: str, params: Any = None) -> None:
        self.problems.append(Problem(field, message, code, params))
        self.data.pop(field, None)
        self.invalid.add(field)


def case_data_problems(
    data: Mapping[str, Any], *, today: dt.date, invalid: Collection[str] = ()
) -> list[Problem]:
    """The rules the case's values break, in the order the form shows them.

    ``data`` holds the values by field name (missing or None: not given); ``invalid`` names
    the fields whose value was given but refused already (the form's field errors), so no
    rule asks for a value that was given.
    """
    check = _Checker(data, invalid)
    birth = check.get("birth_date")
    if birth is not None and birth <= today:
        age = age_on(birth, today)
        if age > MAX_AGE:
            check.add(
                "birth_date",
                _("Ankommen is for children and young people up to %(max)d years."),
                "too_old",
                {"max": MAX_AGE},
            )
        else:
            _dates_after_birth(check, birth, today)
            _target(check, age)
    germany, city = check.get("arrival_germany"), check.get("arrival_city")
    if germany and city and city < germany:
        check.add(
            "arrival_city",
            _("The arrival in the city cannot be before the arrival in Germany."),
            "arrival_order",
        )
    if check.get("interpreter_needed") and not check.get("interpreter_language"):
        check.add(
            "interpreter_language",
            _("Name the language the interpreter must speak."),
            "interpreter_language",
        )
    target, group = check.get("target_type"), check.get("wanted_group")
    if target and group and group not in groups_for_target(target):
        check.add("wanted_group", _("This grade or age group does not match the target."), "group")
    return check.problems


def _dates_after_birth(check: _Checker, birth: dt.date, today: dt.date) -> None:
    for name in DATES_AFTER_BIRTH:
        value = check.get(name)
        if value is not None and value < birth:
            check.add(name, _("This date cannot be before the birth date."), "before_birth")
    years = check.get("school_years")
    if years is not None and years > max(age_on(birth, today) - 3, 0):
        check.add(
            "school_years",
            _("More years of schooling than the child's age allows."),
            "school_years_age",
        )


def _target(check: _Checker, age: int) -> None:
    target = check.get("target_type")
    if not target:
        return
    youngest, oldest = TARGET_AGES.get(target, (0, MAX_AGE))
    if not youngest <= age <= oldest:
        check.add(
            "target_type",
            _(
                "At %(age)d years a child cannot take this target "
                "(from %(youngest)d to %(oldest)d years)."
            ),
            "age",
            {"age": age, "youngest": youngest, "oldest": oldest},
        )
    if target == TargetType.KITA and check.get("measles_proof") is None:
        check.add(
            "measles_proof",
            _("For a Kita place, record whether the proof exists."),
            "measles_proof",
        )
    if (
        target in SCHOOLING_TARGETS
        and check.get("school_years") is None
        and "school_years" not in check.invalid  # a value was given, but refused
    ):
        check.add(
            "school_years",
            _("For school or vocational school, record the years of schooling (0 if none)."),
            "school_years_missing",
        )


def require_valid_case_data(data: Mapping[str, Any], *, today: dt.date) -> None:
    """Raise ``CaseDataInvalid`` if ``data`` breaks a rule (for the services)."""
    problems = case_data_problems(data, today=today)
    if problems:
        raise CaseDataInvalid(problems)
