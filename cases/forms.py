"""Forms of the coordinator's workspace: intake and edit, family contacts, list filters,
transitions, assignment and sharing.

Forms validate input only; every write goes through ``cases/services.py``. They are plain
(not model) forms on purpose: a ModelForm would copy the input onto the loaded case before the
service could compare old and new values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import (
    Case,
    CloseReason,
    Gender,
    GermanLevel,
    Group,
    Guardian,
    JournalEntry,
    ResidenceStatus,
    State,
    TargetType,
)
from cases.rules import MAX_AGE as MAX_AGE  # re-exported: the tests and callers' old home
from cases.rules import TARGET_AGES as TARGET_AGES
from cases.rules import age_on as age_on
from cases.rules import case_data_problems
from cases.selectors import (
    coordinators_for_assignment,
    districts_visible_to,
    teams_for_transfer,
    teams_visible_to,
)
from cases.services import EDITABLE_FIELDS
from coordination.forms import IdsChoiceField, KernForm, StrictNullBooleanField
from coordination.models import District, Team

AGE_BAND_LABELS = [
    ("0-2", _("0 to 2 years")),
    ("3-5", _("3 to 5 years")),
    ("6-9", _("6 to 9 years")),
    ("10-15", _("10 to 15 years")),
    ("16-18", _("16 to 18 years")),
    ("19-21", _("19 to 21 years")),
]
MAX_LANGUAGES = 10
MAX_LANGUAGE_LENGTH = 40


def _label(name: str) -> Any:
    return capfirst(Case._meta.get_field(name).verbose_name)


def _blank(choices: Any, label: Any = None) -> list[tuple[str, Any]]:
    return [("", label or _("(please choose)")), *choices]


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class LanguagesField(forms.CharField):
    """Languages spoken, typed as a comma-separated list; stored as a list of names."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        text = super().to_python(value) or ""
        seen: dict[str, str] = {}
        for part in text.replace(";", ",").split(","):
            name = " ".join(part.split())
            if name and name.casefold() not in seen:
                seen[name.casefold()] = name
        return list(seen.values())

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        if len(value) > MAX_LANGUAGES:
            raise ValidationError(
                _("Please name at most %(max)d languages."),
                code="too_many",
                params={"max": MAX_LANGUAGES},
            )
        if any(len(name) > MAX_LANGUAGE_LENGTH for name in value):
            raise ValidationError(
                _("A language name can have at most %(max)d characters."),
                code="too_long",
                params={"max": MAX_LANGUAGE_LENGTH},
            )

    def run_validators(self, value: Any) -> None:
        # The shared validators (control characters) check each name.
        for name in value or ():
            super().run_validators(name)


def _not_in_future(value: dt.date | None) -> None:
    if value is not None and value > timezone.localdate():
        raise ValidationError(_("This date cannot be in the future."), code="future")


class DistrictChoiceIterator(forms.models.ModelChoiceIterator):
    """The districts of the user's own cases first, then the others (a state has hundreds;
    a team works in a few of them)."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        own: frozenset[int] = getattr(self.field, "own_ids", frozenset())
        districts = list(self.queryset)
        if not any(d.pk in own for d in districts):
            yield from (self.choice(d) for d in districts)
            return
        yield (
            gettext("Districts of your cases"),
            [self.choice(d) for d in districts if d.pk in own],
        )
        yield (gettext("Other districts"), [self.choice(d) for d in districts if d.pk not in own])


class DistrictChoiceField(forms.ModelChoiceField):
    iterator = DistrictChoiceIterator


class CaseForm(KernForm):
    """The case's data, for intake and edit (the same validation for both)."""

    # The child
    given_name = forms.CharField(label=_label("given_name"), max_length=100)
    family_name = forms.CharField(label=_label("family_name"), max_length=100)
    birth_date = forms.DateField(
        label=_label("birth_date"),
        help_text=_("If only the year is known, use the estimate from the documents."),
        validators=[_not_in_future],
    )
    gender = forms.ChoiceField(
        label=_label("gender"), choices=_blank(Gender.choices), required=False
    )
    nationality = forms.CharField(label=_label("nationality"), max_length=60, required=False)
    languages = LanguagesField(
        label=_label("languages"),
        max_length=MAX_LANGUAGES * (MAX_LANGUAGE_LENGTH + 2),
        help_text=_("Separate several languages with commas, e.g. Arabic, Kurdish."),
    )
    interpreter_needed = StrictNullBooleanField(label=_label("interpreter_needed"), required=False)
    interpreter_language = forms.CharField(
        label=_label("interpreter_language"), max_length=60, required=False
    )
    address = forms.CharField(
        label=_label("address"), max_length=300, required=False, widget=_textarea(2)
    )
    arrival_germany = forms.DateField(
        label=_label("arrival_germany"), required=False, validators=[_not_in_future]
    )
    arrival_city = forms.DateField(
        label=_label("arrival_city"), required=False, validators=[_not_in_future]
    )
    residence_status = forms.ChoiceField(
        label=_label("residence_status"), choices=_blank(ResidenceStatus.choices), required=False
    )
    # Schooling and language
    school_years = forms.IntegerField(
        label=_label("school_years"),
        required=False,
        validators=[MinValueValidator(0), MaxValueValidator(16)],
        help_text=_("Required for school and vocational school; 0 if none."),
    )
    last_grade = forms.CharField(label=_label("last_grade"), max_length=40, required=False)
    literate_own_script = StrictNullBooleanField(
        label=_label("literate_own_script"), required=False
    )
    german_level = forms.ChoiceField(
        label=_label("german_level"), choices=_blank(GermanLevel.choices), required=False
    )
    # Health and support (special categories: only what the placement needs)
    health_notes = forms.CharField(
        label=_label("health_notes"), max_length=2000, required=False, widget=_textarea()
    )
    support_needed = StrictNullBooleanField(label=_label("support_needed"), required=False)
    support_notes = forms.CharField(
        label=_label("support_notes"), max_length=2000, required=False, widget=_textarea()
    )
    measles_proof = StrictNullBooleanField(
        label=_label("measles_proof"),
        required=False,
        help_text=_("Required for a Kita place (§ 20 (9) IfSG): yes or no."),
    )
    school_health_check = StrictNullBooleanField(
        label=_label("school_health_check"), required=False
    )
    # Placement (plain fields: routing and statistics)
    target_type = forms.ChoiceField(label=_label("target_type"), choices=_blank(TargetType.choices))
    wanted_group = forms.ChoiceField(
        label=_label("wanted_group"), choices=_blank(Group.choices), required=False
    )
    district = DistrictChoiceField(
        label=_label("district"),
        queryset=District.objects.order_by("name"),
        required=False,
        empty_label=_("(please choose)"),
    )
    waiting_since = forms.DateField(
        label=_label("waiting_since"),
        required=False,
        validators=[_not_in_future],
        help_text=_("Arrival in the city, or the intake date. Left empty: taken from those."),
    )
    notes = forms.CharField(
        label=_label("notes"), max_length=4000, required=False, widget=_textarea(4)
    )

    SECTIONS: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (
            _("The child"),
            (
                "given_name",
                "family_name",
                "birth_date",
                "gender",
                "nationality",
                "languages",
                "interpreter_needed",
                "interpreter_language",
            ),
        ),
        (
            _("Arrival and residence"),
            ("address", "arrival_germany", "arrival_city", "residence_status"),
        ),
        (_("Place wanted"), ("target_type", "wanted_group", "district", "waiting_since")),
        (
            _("Schooling and German"),
            ("school_years", "last_grade", "literate_own_script", "german_level"),
        ),
        (
            _("Health and support"),
            (
                "support_needed",
                "support_notes",
                "measles_proof",
                "school_health_check",
                "health_notes",
            ),
        ),
        (_("Notes"), ("notes",)),
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            own = districts_visible_to(user).values_list("pk", flat=True)
            self.fields["district"].own_ids = frozenset(own)  # type: ignore[attr-defined]

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        initial = {name: getattr(case, name) for name in EDITABLE_FIELDS if name != "district"}
        initial["district"] = case.district_id
        return initial

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # The rules between fields live in cases/rules.py (the services check them too).
        for problem in case_data_problems(data, today=timezone.localdate(), invalid=self.errors):
            self.add_error(problem.field, problem.error())
        return data

    def service_data(self) -> dict[str, Any]:
        """The cleaned values in the shape ``case_register`` / ``case_update`` take."""
        data = {name: self.cleaned_data.get(name) for name in EDITABLE_FIELDS}
        for name in ("gender", "residence_status", "german_level", "wanted_group"):
            data[name] = data[name] or ""
        if data["waiting_since"] is None:
            # Left empty: registration derives it from the arrival; an edit keeps it.
            del data["waiting_since"]
        return data


class CaseEditForm(CaseForm):
    """The edit form: the case form plus the data version it was shown with (lost updates)."""

    version = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        raw = str(data.get("version") or "").strip()
        if not raw:
            self.add_error(
                None,
                _(
                    "This form does not say which version of the case it was opened with. "
                    "Open the case again and repeat your changes."
                ),
            )
        elif not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**31:
            self.add_error(
                None,
                _(
                    "The version of this form is not valid. Open the case again and repeat "
                    "your changes."
                ),
            )
        else:
            data["version"] = int(raw)
        return data


class IntakeForm(CaseForm):
    """Intake: the case form plus the answers to the duplicate and sibling check."""

    review = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)
    confirm_duplicate = forms.BooleanField(
        label=_("I have checked the possible duplicates: this is a different child."),
        required=False,
    )
    sibling_of = forms.TypedChoiceField(
        label=_("Link as sibling of"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=[],
        widget=forms.RadioSelect,
    )

    def set_sibling_choices(self, candidates: list[tuple[int, str]]) -> None:
        self.fields["sibling_of"].choices = [("", _("Not a sibling")), *candidates]  # type: ignore[attr-defined]


_PHONE = RegexValidator(
    r"^\+?[0-9][0-9 ()/.-]{3,38}$",
    _("Enter a phone number with digits, spaces and + ( ) / - only."),
    code="phone",
)


class GuardianForm(KernForm):
    """A family contact: name, relation, and at least one way to reach them."""

    name = forms.CharField(label=_("Name"), max_length=120)
    relation = forms.ChoiceField(
        label=_("Relation to the child"), choices=_blank(Guardian.Relation.choices)
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False, validators=[_PHONE])
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    preferred_language = forms.CharField(
        label=_("Preferred language"), max_length=60, required=False
    )
    is_contact_person = forms.BooleanField(label=_("Main contact for the family"), required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        reachable = data.get("phone") or data.get("email")
        if not reachable and not (self.has_error("phone") or self.has_error("email")):
            self.add_error("phone", _("Give a phone number or an e-mail address."))
        return data

    @classmethod
    def initial_for(cls, guardian: Guardian) -> dict[str, Any]:
        return {name: getattr(guardian, name) for name in cls.base_fields}


class BaseGuardianFormSet(forms.BaseFormSet):
    """At least one family contact, unless the child joins a family that has one."""

    require_contact = True

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or not self.require_contact:
            return
        if not any(f.has_changed() for f in self.forms):
            raise ValidationError(
                _("Record at least one family contact (name, relation, phone or e-mail)."),
                code="no_contact",
            )

    def contacts(self, *, new_family: bool = True) -> list[dict[str, Any]]:
        """The filled-in contacts; in a new family the first is the main contact by default."""
        contacts = [dict(f.cleaned_data) for f in self.forms if f.has_changed() and f.cleaned_data]
        if new_family and contacts and not any(c.get("is_contact_person") for c in contacts):
            contacts[0]["is_contact_person"] = True
        return contacts


GuardianFormSet = forms.formset_factory(
    GuardianForm, formset=BaseGuardianFormSet, extra=2, max_num=6, validate_max=True
)


class CaseFilterForm(KernForm):
    """The case list's search and filters. Invalid values are reported and ignored.

    The form posts (the search term never goes into a URL); the view answers with a redirect
    whose URL holds the filters and, for a search, only a random token (``cases/search.py``).
    """

    hide_optional = True  # every filter is optional: no "optional" mark on each label

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=120,
        help_text=_(
            "Name or part of it (at least 3 letters; other spellings are found too), "
            "birth date (DD.MM.YYYY), birth year or reference (e.g. 45)."
        ),
    )
    scope = forms.ChoiceField(
        label=_("Show"),
        choices=[("open", _("Open cases")), ("all", _("All cases"))],
        required=False,
    )
    state = forms.ChoiceField(
        label=_("State"), choices=_blank(State.choices, _("all")), required=False
    )
    target = forms.ChoiceField(
        label=_("Target"), choices=_blank(TargetType.choices, _("all")), required=False
    )
    district = forms.ModelChoiceField(
        label=_("District"),
        queryset=District.objects.order_by("name"),
        required=False,
        empty_label=_("all"),
    )
    age = forms.ChoiceField(
        label=_("Age"),
        choices=_blank(AGE_BAND_LABELS, _("all")),
        required=False,
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("all"),
    )
    coordinator = forms.ModelChoiceField(
        label=_("Coordinator"),
        queryset=coordinators_for_assignment(),
        required=False,
        empty_label=_("all"),
    )
    mine = forms.BooleanField(label=_("Only cases assigned to me"), required=False)
    waiting = forms.ChoiceField(
        label=_("Waiting time"),
        choices=[
            ("", _("all")),
            ("under_target", _("within the service target")),
            ("over_target", _("over the service target")),
            ("over_limit", _("over the legal limit")),
            ("stuck", _("stuck in one state")),
        ],
        required=False,
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        choices=[
            ("waiting", _("waiting longest first")),
            ("newest", _("newest first")),
            ("state_since", _("longest in the same state")),
            ("reference", _("reference")),
        ],
        required=False,
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["coordinator"].label_from_instance = _coordinator_label  # type: ignore[attr-defined]
        if user is not None:
            # Only the teams whose cases the user can see (their own, and those of cases
            # shared with them), so the choices stay short in a state-wide installation.
            teams = teams_visible_to(user)
            self.fields["team"].queryset = teams  # type: ignore[attr-defined]
            # Likewise only the districts of the cases the user can see.
            self.fields["district"].queryset = districts_visible_to(user)  # type: ignore[attr-defined]
            self.fields["coordinator"].queryset = coordinators_for_assignment().filter(  # type: ignore[attr-defined]
                team__in=teams
            )

    def filters(self) -> dict[str, Any]:
        """The valid filters only (an invalid one is shown as an error and ignored); the list
        shows open cases unless all are asked for. The search term is not a filter."""
        self.is_valid()
        found = {k: v for k, v in getattr(self, "cleaned_data", {}).items() if v and k != "q"}
        found.setdefault("scope", "open")
        return found

    def url_params(self) -> dict[str, str]:
        """The valid filters as URL parameters (none of them is a personal value)."""
        params: dict[str, str] = {}
        for name, value in self.filters().items():
            if isinstance(value, bool):
                params[name] = "on"
            else:
                params[name] = str(getattr(value, "pk", value))
        return params


def _coordinator_label(user: Any) -> str:
    return f"{user} ({user.team})" if user.team_id else str(user)


class CoordinatorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return _coordinator_label(obj)


class AssignForm(KernForm):
    """Assign a case to a coordinator of the user's own team (the owning team assigns)."""

    coordinator = CoordinatorChoiceField(
        label=_("Assign to"),
        queryset=None,  # type: ignore[arg-type]
        empty_label=_("(please choose)"),
        error_messages={
            "invalid_choice": _("Choose a coordinator of your team."),
        },
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_id = getattr(user, "team_id", None)
        # Reassigning happens within the team: a forged id of anyone else is a form error.
        self.fields["coordinator"].queryset = (  # type: ignore[attr-defined]
            coordinators_for_assignment().filter(team_id=team_id)
            if team_id is not None
            else coordinators_for_assignment().none()
        )


class BulkAssignForm(AssignForm):
    """Reassign several cases at once (e.g. when a colleague leaves)."""

    cases = IdsChoiceField(queryset=Case.objects.none())

    def __init__(self, *args: Any, visible: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only cases the user may see can be chosen: a forged id is an invalid choice. A
        # shared case of another team is a valid choice here; the service refuses the whole
        # batch with the references (all or nothing).
        field = self.fields["cases"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = visible.only("id", "reference", "state", "team", "coordinator")
        self.fields["cases"].error_messages["required"] = _("Select at least one case.")


class TransferForm(KernForm):
    """Hand a case over to another team, with a reason."""

    team = forms.ModelChoiceField(
        label=_("Transfer to team"),
        queryset=Team.objects.none(),
        empty_label=_("(please choose)"),
        error_messages={"invalid_choice": _("Choose another team.")},
    )
    reason = forms.CharField(
        label=_("Reason for the transfer"),
        max_length=500,
        widget=_textarea(2),
        help_text=_("Recorded in the case history, e.g. the family moved to another district."),
    )

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_for_transfer(case=case)  # type: ignore[attr-defined]


class ShareForm(KernForm):
    """Share with a coordinator of another team, named by user name (a state-wide
    installation has too many coordinators for a list)."""

    with_user = forms.CharField(
        label=_("Share with (user name)"),
        max_length=150,
        help_text=_("The user name of a coordinator of another team."),
    )

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case = case

    def clean_with_user(self) -> Any:
        username = self.cleaned_data["with_user"].strip()
        user = (
            coordinators_for_assignment()
            .exclude(team_id=self.case.team_id)
            .filter(username__iexact=username)
            .first()
        )
        if user is None:
            raise forms.ValidationError(
                _("There is no coordinator of another team with this user name.")
            )
        return user


class UnshareForm(KernForm):
    with_user = CoordinatorChoiceField(
        label=_("Stop sharing with"),
        queryset=None,  # type: ignore[arg-type]
        empty_label=_("(please choose)"),
    )

    def __init__(self, *args: Any, shared_with: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["with_user"].queryset = shared_with  # type: ignore[attr-defined]


class TransitionForm(KernForm):
    """One transition button's form; the state it was shown in guards against races."""

    # Longer than any transition name on purpose: a forged value reaches the service, which
    # refuses and audit-logs it.
    transition = forms.CharField(max_length=200, widget=forms.HiddenInput)
    expected_state = forms.CharField(max_length=20, widget=forms.HiddenInput)
    reason = forms.ChoiceField(
        label=_("Reason"), choices=_blank(CloseReason.choices), required=False
    )
    comment = forms.CharField(
        label=_("Comment"), max_length=1000, required=False, widget=_textarea(2)
    )


class LinkSiblingForm(KernForm):
    sibling = forms.TypedChoiceField(label=_("Sibling"), coerce=int, choices=[])

    def __init__(self, *args: Any, candidates: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sibling"].choices = candidates  # type: ignore[attr-defined]


class MergeForm(KernForm):
    """Choose the duplicate (by reference, among the team's open cases); then confirm."""

    duplicate = forms.CharField(
        label=_("Reference of the duplicate"),
        max_length=30,
        help_text=_("An open case of your team, e.g. NZ-2026-00042. It will be closed."),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, candidates: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = candidates

    def clean_duplicate(self) -> Any:
        reference = " ".join(self.cleaned_data["duplicate"].split()).upper()
        case = self.candidates.filter(reference=reference).first()
        if case is None:
            raise forms.ValidationError(
                _("No other open case of your team has this reference."), code="unknown"
            )
        return case


# --- the working day: follow-ups, the case journal, the work queue (issue 17) ---------------


def _not_in_past(value: dt.date | None) -> None:
    if value is not None and value < timezone.localdate():
        raise ValidationError(_("The follow-up date cannot be in the past."), code="past")


class FollowUpForm(KernForm):
    """Set a follow-up (Wiedervorlage): a date, a short reason, for me or for the team."""

    FOR_ME, FOR_TEAM = "me", "team"

    due_on = forms.DateField(label=_("Follow up on"), validators=[_not_in_past])
    reason = forms.CharField(
        label=_("What is to be followed up"),
        max_length=200,
        help_text=_("A few words, e.g. ask the family about the health check."),
    )
    for_whom = forms.ChoiceField(
        label=_("For whom"),
        choices=[(FOR_ME, _("for me")), (FOR_TEAM, _("for the whole team"))],
        initial=FOR_ME,
        widget=forms.RadioSelect,
    )

    def clean_reason(self) -> str:
        reason = " ".join(self.cleaned_data["reason"].split())
        if not reason:
            raise ValidationError(_("Please say in a few words what is to be followed up."))
        return reason


class FollowUpPostponeForm(KernForm):
    due_on = forms.DateField(label=_("New date"), validators=[_not_in_past])


class FollowUpCloseForm(KernForm):
    """Done or cancelled (one form, the button says which)."""

    action = forms.ChoiceField(choices=[("done", "done"), ("cancel", "cancel")])


class JournalForm(KernForm):
    """Record a contact on the case (date and time, kind, with whom, interpreter, notes)."""

    date = forms.DateField(label=_("Date"), validators=[_not_in_future])
    time = forms.TimeField(
        label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    kind = forms.ChoiceField(label=_("Kind of contact"), choices=_blank(JournalEntry.Kind.choices))
    with_whom = forms.ChoiceField(
        label=_("With whom"), choices=_blank(JournalEntry.WithWhom.choices)
    )
    interpreter = forms.BooleanField(label=_("An interpreter took part"), required=False)
    interpreter_language = forms.CharField(
        label=_("Language of the interpretation"), max_length=60, required=False
    )
    text = forms.CharField(label=_("What was discussed"), max_length=5000, widget=_textarea(4))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == JournalEntry.Kind.INTERPRETED:
            data["interpreter"] = True
        if data.get("interpreter") and not (data.get("interpreter_language") or "").strip():
            self.add_error(
                "interpreter_language", _("Please name the language of the interpretation.")
            )
        day, time = data.get("date"), data.get("time")
        if day is not None and time is not None:
            at = timezone.make_aware(dt.datetime.combine(day, time))
            if at > timezone.now() + dt.timedelta(minutes=5):
                self.add_error("time", _("A contact cannot be recorded for a time in the future."))
            data["at"] = at
        return data


class WorkItemSeenForm(KernForm):
    """Mark one work-queue item as seen (the case comes from the URL)."""

    key = forms.RegexField(regex=r"^[a-z0-9_:.-]{1,60}$", max_length=60, widget=forms.HiddenInput)
