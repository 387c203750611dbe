"""Forms of the referral pages: parse and check input; the services decide the rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Group
from coordination.forms import KernForm
from referrals.models import DeclineReason, Institution

MAX_COMMENT = 2000


class InstitutionChoiceField(forms.ModelChoiceField):
    """Institutions labelled with their district, the case group's free-place figure, and a
    mark when the institution already declined this child."""

    default_error_messages = {
        "invalid_choice": _(
            "This institution cannot be chosen: its school type does not take children of "
            "this grade or age group, or it is not active. Please choose one from the list."
        ),
    }

    def label_from_instance(self, obj: Institution) -> str:  # type: ignore[override]
        free = getattr(obj, "free", None)
        figure: Any
        if free is None:
            figure = _("no figure")
        elif free == 0:
            figure = _("no free place")
        else:
            figure = _("free: %(free)s") % {"free": free}
        label = f"{obj.name} ({obj.district}): {figure}"
        reason = getattr(obj, "declined_reason", None)
        if reason:
            label += "; " + str(declined_label(reason))
        return label


def declined_label(reason: str) -> str:
    """ "already declined: <coded reason>" for an institution that declined this child."""
    labels = dict(DeclineReason.choices)
    return str(_("already declined: %(reason)s") % {"reason": labels.get(reason, reason)})


class ReferralCreateForm(KernForm):
    institution = InstitutionChoiceField(
        label=_("Institution"),
        queryset=Institution.objects.none(),
        empty_label=_("Choose an institution"),
    )
    message = forms.CharField(
        label=_("Comment for the institution"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The institution sees this comment. Do not write health details or the family's "
            "residence status here. Required when there is no free place (waiting list)."
        ),
    )
    confirm_waitlist = forms.BooleanField(
        label=_("Refer anyway: put the child on this institution's waiting list"),
        required=False,
    )

    def __init__(self, *args: Any, institutions: QuerySet[Institution], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions  # type: ignore[attr-defined]


class AcceptForm(KernForm):
    start_date = forms.DateField(
        label=_("Agreed start date"),
        required=False,
        help_text=_("The day the child is expected for the first time, if already agreed."),
    )

    def clean_start_date(self) -> dt.date | None:
        value = self.cleaned_data.get("start_date")
        if value is not None and value > timezone.localdate() + dt.timedelta(days=366):
            raise forms.ValidationError(_("The start date must be within the next year."))
        return value


class DeclineForm(KernForm):
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", _("Choose a reason")), *DeclineReason.choices]
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required for “other reason”. The coordinator sees it."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reason") == DeclineReason.OTHER and not data.get("comment", "").strip():
            self.add_error("comment", _("Please explain the reason in a comment."))
        return data


class EnrolForm(KernForm):
    first_day = forms.DateField(label=_("First day attended"))

    def clean_first_day(self) -> dt.date:
        value = self.cleaned_data["first_day"]
        if value > timezone.localdate():
            raise forms.ValidationError(_("The first day attended cannot be in the future."))
        return value


class NoShowForm(KernForm):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class WithdrawForm(KernForm):
    comment = forms.CharField(
        label=_("Reason for withdrawing"),
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The institution is told that the referral was withdrawn, not why."),
    )

    def clean_comment(self) -> str:
        value = self.cleaned_data["comment"]
        if not value.strip():
            raise forms.ValidationError(_("Please give a reason."))
        return value


class PlacesForm(KernForm):
    """One number field per grade or age group of an institution."""

    def __init__(self, *args: Any, groups: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = groups
        for group in groups:
            self.fields[f"free_{group}"] = forms.IntegerField(
                label=Group(group).label,
                min_value=0,
                max_value=999,
                required=False,
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )
        # The shared KERN mixin styled the fields of the class only; style the new ones.
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "kern-form-input__input")

    def counts(self) -> dict[str, int | None]:
        return {g: self.cleaned_data.get(f"free_{g}") for g in self.groups}
