"""Forms of the offers pages: parse and check input; the services decide the rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.forms import LanguagesField
from coordination.forms import KernForm, KernModelForm
from offers.models import (
    Offer,
    OfferKind,
    Provider,
    RegistrationDeclineReason,
    Weekday,
)

MAX_COMMENT = 2000


class OfferForm(KernModelForm):
    languages = LanguagesField(
        label=_("Languages spoken"),
        required=False,
        max_length=400,
        help_text=_("Besides German, separated by commas, e.g. Ukrainian, Arabic."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Weekdays"),
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Offer
        fields = [
            "provider", "kind", "title", "description", "languages", "min_age", "max_age",
            "grades", "district", "address", "accessible", "starts_on", "ends_on", "weekdays",
            "time_from", "time_to", "schedule_note", "is_free", "fee", "but_eligible",
            "free_places", "registration_way", "registration_note", "contact_email",
            "contact_phone", "is_active",
        ]  # fmt: skip
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "time_from": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "time_to": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: Any, providers: QuerySet[Provider], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers  # type: ignore[attr-defined]
        self.fields["fee"].help_text = _("Only when the offer is not free of charge.")
        for name, highest in (("min_age", 99), ("max_age", 99), ("free_places", 9999)):
            field = self.fields[name]
            field.validators.append(MaxValueValidator(highest))
            field.widget.attrs.update({"inputmode": "numeric", "max": str(highest)})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("min_age"), data.get("max_age")
        if low is not None and high is not None and low > high:
            self.add_error("max_age", _("The highest age cannot be below the lowest age."))
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and starts > ends:
            self.add_error("ends_on", _("The last day cannot be before the first day."))
        t_from, t_to = data.get("time_from"), data.get("time_to")
        if t_from and t_to and t_from >= t_to:
            self.add_error("time_to", _("The end time must be after the start time."))
        fee = data.get("fee")
        if not data.get("is_free") and (fee is None or fee <= 0) and "fee" not in self.errors:
            self.add_error("fee", _("Give the fee, or mark the offer as free of charge."))
        if fee is not None and (fee < 0 or fee > 9999):
            self.add_error("fee", _("The fee must be between 0 and 9,999 euros."))
        return data

    def _post_clean(self) -> None:
        # The service saves (it checks who may, and the rules across fields): no model
        # validation here beyond what the fields check.
        pass


class PlacesForm(KernForm):
    free_places = forms.IntegerField(
        label=_("Free places"),
        min_value=0,
        max_value=9999,
        required=False,
        help_text=_("Empty: no limit or not known."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )


class OfferChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Offer) -> str:  # type: ignore[override]
        return f"{obj.title} ({obj.get_kind_display()}, {obj.district})"


class RegistrationCreateForm(KernForm):
    offer = OfferChoiceField(
        label=_("Offer"), queryset=Offer.objects.none(), empty_label=_("Choose an offer")
    )
    message = forms.CharField(
        label=_("Comment for the provider"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The provider sees this comment. Do not write health details or the family's "
            "residence status here."
        ),
    )

    def __init__(self, *args: Any, offers: QuerySet[Offer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = offers  # type: ignore[attr-defined]


class ConfirmForm(KernForm):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. the first date and where to come. The coordinator sees it."),
    )


class DeclineForm(KernForm):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", _("Choose a reason")), *RegistrationDeclineReason.choices],
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required for “other reason”. The coordinator sees it."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("reason") == RegistrationDeclineReason.OTHER
            and not data.get("comment", "").strip()
        ):
            self.add_error("comment", _("Please explain the reason in a comment."))
        return data


class DayForm(KernForm):
    day = forms.DateField(label=_("Date"))

    def clean_day(self) -> dt.date:
        value = self.cleaned_data["day"]
        if value > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."))
        return value


class WithdrawForm(KernForm):
    comment = forms.CharField(
        label=_("Reason for withdrawing"),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class PublicFilterForm(forms.Form):
    """The public page's filters (GET, no personal values): unknown values mean "all"."""

    kind = forms.ChoiceField(
        label=_("Kind of offer"), required=False, choices=[("", _("all")), *OfferKind.choices]
    )
    age = forms.IntegerField(label=_("Age of the child"), required=False, min_value=0,
                             max_value=99)  # fmt: skip
    district = forms.TypedChoiceField(label=_("District"), required=False, coerce=int,
                                      empty_value=None)  # fmt: skip
    language = forms.ChoiceField(label=_("Language"), required=False)
    free = forms.BooleanField(
        label=_("Only free offers (or covered by Bildung und Teilhabe)"), required=False
    )
    hide_optional = True

    def __init__(self, *args: Any, districts: list[Any], languages: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["district"].choices = [("", _("all")), *((d.pk, d.name) for d in districts)]  # type: ignore[attr-defined]
        self.fields["language"].choices = [("", _("all")), *((x, x) for x in languages)]  # type: ignore[attr-defined]
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "kern-form-check__checkbox"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "kern-form-input__select"
            else:
                widget.attrs["class"] = "kern-form-input__input"
