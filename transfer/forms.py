"""Forms of the import pages: the upload, and the choice of a field for each column."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from coordination.forms import KernForm
from coordination.models import Team
from transfer.columns import IGNORE, Column
from transfer.models import ImportKind
from transfer.reading import MAX_BYTES


class UploadForm(KernForm):
    file = forms.FileField(
        label=_("List (.xlsx or .csv)"),
        help_text=_(
            "One row per child (or per school or Kita), a header row with the column "
            "names. The file is kept encrypted until the import is done, at most a "
            "day."
        ),
    )
    kind = forms.ChoiceField(label=_("What the list holds"), choices=ImportKind.choices)
    team = forms.ModelChoiceField(
        label=_("Import the cases into team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("(please choose)"),
    )

    def __init__(self, *args: Any, admin: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.admin = admin
        if not admin:  # a coordinator imports cases into their own team
            del self.fields["kind"]
            del self.fields["team"]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than 20 MB. Split it into several files.")
            )
        if not upload.name.lower().endswith((".xlsx", ".xlsm", ".csv", ".txt")):
            raise forms.ValidationError(_("Upload an .xlsx or a .csv file."))
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.admin and data.get("kind") == ImportKind.CASES and not data.get("team"):
            self.add_error("team", _("Choose the team the cases belong to."))
        return data


class MappingForm(KernForm):
    """One choice per column of the file: the field it holds, or "ignore"."""

    hide_optional = True

    def __init__(
        self, *args: Any, headers: list[str], columns: list[Column],
        samples: dict[int, str] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        choices = [(IGNORE, _("(ignore this column)")), *[(c.name, c.label) for c in columns]]
        for index, header in enumerate(headers):
            sample = (samples or {}).get(index, "")
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False,
                help_text=_("First value: %(value)s") % {"value": sample} if sample else "",
            )  # fmt: skip

    def mapping(self) -> dict[str, str]:
        return {
            name.removeprefix("col_"): value or IGNORE for name, value in self.cleaned_data.items()
        }


class ExportForm(KernForm):
    team = forms.ModelChoiceField(
        label=_("Scope"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("all teams"),
    )

    def __init__(self, *args: Any, teams: Any, everything: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams
        if not everything:
            field.required = True
            field.empty_label = None
