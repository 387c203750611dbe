"""Form helpers shared by every app: KERN UX widget classes and input hygiene."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# The largest id a row can have (BigAutoField); larger numbers are no id at all, and SQLite
# refuses to even compare them (OverflowError) where PostgreSQL finds nothing.
MAX_ID = 2**63 - 1


def database_ids(values: Iterable[Any]) -> list[int]:
    """The values that could be row ids (whole numbers 1 .. ``MAX_ID``); the rest is dropped."""
    ids = []
    for raw in values:
        try:
            number = int(str(raw).strip())
        except ValueError:
            continue
        if 0 < number <= MAX_ID:
            ids.append(number)
    return ids


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice of rows whose forged out-of-range ids are invalid choices, not 500s
    (Django checks ``pk__in`` with the raw numbers)."""

    def _check_values(self, value: Any) -> Any:
        for raw in value:
            if not database_ids([raw]) and str(raw).strip().lstrip("-").isdigit():
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": raw},
                )
        return super()._check_values(value)  # type: ignore[misc]


class StrictNullBooleanSelect(forms.NullBooleanSelect):
    """Hands the posted text to the field as it came (Django's widget maps unknown text to
    None before the field could refuse it)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)


class StrictNullBooleanField(forms.NullBooleanField):
    """Yes / no / not known, where any other posted value is a form error.

    Django's ``NullBooleanField`` turns every value it does not know into None ("not known"):
    a forged or garbled answer would silently erase a recorded yes or no.
    """

    widget = StrictNullBooleanSelect
    # Exactly what the select offers (Django's ``NullBooleanSelect`` values), and nothing
    # missing: a field that was not sent at all is "not known", as before.
    TRUE = frozenset({"true"})
    FALSE = frozenset({"false"})
    UNKNOWN = frozenset({"", "unknown"})
    default_error_messages = {"invalid": _("Choose yes, no or not known.")}

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value is None or isinstance(value, bool):
            return value
        text = str(value)
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        if text in self.UNKNOWN:
            return None
        raise ValidationError(self.error_messages["invalid"], code="invalid")


def reject_control_characters(value: str) -> None:
    """Free text may hold line breaks and tabs, never other control characters."""
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValidationError(_("This text contains invisible control characters."), "control")


class KernFormMixin:
    """Give every widget the KERN UX classes and describe errors for screen readers."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "kern-form-check__checkbox"
            elif isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                css = "kern-form-check__radio"
            elif isinstance(widget, forms.Select):
                css = "kern-form-input__select"
            else:
                css = "kern-form-input__input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()
            if isinstance(field, forms.CharField):
                field.validators.append(reject_control_characters)
            if isinstance(field, forms.DateField):
                widget.input_type = "date"  # type: ignore[attr-defined]
                widget.format = "%Y-%m-%d"  # type: ignore[attr-defined]
            _ = name

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in getattr(self, "errors", {}):
            if name in self.fields:
                field = self.fields[name]
                auto_id = self[name].auto_id  # type: ignore[index]  # honours the form prefix
                described = f"{auto_id}_error"
                if field.help_text:
                    described += f" {auto_id}_helptext"
                field.widget.attrs["aria-invalid"] = "true"
                field.widget.attrs["aria-describedby"] = described


class KernForm(KernFormMixin, forms.Form):
    pass


class KernModelForm(KernFormMixin, forms.ModelForm):
    pass


# From this many failed logins on, the login page says how many tries remain before the lock.
WARN_AFTER_FAILURES = 3


class LoginForm(AuthenticationForm):
    """Django's login form with plain messages: a wrong name or password is named as such,
    and from the third failure on the page says how many tries remain before django-axes
    locks the account (``AXES_FAILURE_LIMIT``)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The user name or password is wrong."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError as error:
            if getattr(error, "code", None) == "invalid_login":
                remaining = self.tries_remaining()
                if remaining is not None:
                    error = ValidationError(
                        [
                            error,
                            ValidationError(
                                ngettext(
                                    "You have %(count)d more try; after that the login is "
                                    "locked for a while.",
                                    "You have %(count)d more tries; after that the login is "
                                    "locked for a while.",
                                    remaining,
                                )
                                % {"count": remaining},
                                code="tries_remaining",
                            ),
                        ]
                    )
            raise error

    def tries_remaining(self) -> int | None:
        """Tries left before the lock, once the failures reached ``WARN_AFTER_FAILURES``;
        None before that, with axes off, or once locked (axes then shows its own page)."""
        from axes.conf import settings as axes_settings
        from axes.handlers.proxy import AxesProxyHandler
        from axes.helpers import get_failure_limit

        if self.request is None or not axes_settings.AXES_ENABLED:
            return None
        credentials = {"username": self.cleaned_data.get("username") or ""}
        failures = AxesProxyHandler.get_failures(self.request, credentials)
        remaining = get_failure_limit(self.request, credentials) - failures
        if failures < WARN_AFTER_FAILURES or remaining <= 0:
            return None
        return remaining
