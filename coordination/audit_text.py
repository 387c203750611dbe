"""The audit log in plain words: "Lena Becker (Coordinator) opened the case NZ-2026-00045:
first name(s), date of birth, address" instead of ``case.view`` and field codes.

The codes stay in the log, in its CSV export and behind a toggle on the page; these sentences
are made when the page is shown, in the reader's language. Field codes are named by the
verbose names of the model they belong to. The base app knows only its own models: the top
app (``administration``) registers every model once the apps are loaded
(``register_models``), so the base never reaches up to name a model of a higher app.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coordination.models import AuditEntry
from coordination.roles import ROLE_LABELS

DASH = "\u2013"
# object_type (app_label.model) -> model class; filled by register_models.
_MODELS: dict[str, Any] = {}
# Entries that name no object (a list of cases) still belong to a kind of object.
_KIND_MODEL = {"case": "cases.case", "referral": "referrals.referral"}

# What someone did, by action code. Placeholders: %(actor)s (name and roles), %(reference)s
# (the case reference) and %(object)s (what was acted on, e.g. "user #12").
ACTIONS: dict[str, Promise] = {
    "auth.login": _("%(actor)s logged in"),
    "auth.logout": _("%(actor)s logged out"),
    "auth.login_failed": _("%(actor)s failed to log in"),
    "auth.locked_out": _("%(actor)s was locked out after too many failed logins"),
    "auth.unlock": _("%(actor)s lifted the login lock of %(object)s"),
    "auth.otp_setup": _("%(actor)s set up a second factor"),
    "auth.otp_verified": _("%(actor)s confirmed the login with the second factor"),
    "auth.otp_failed": _("%(actor)s entered a wrong second-factor code"),
    "auth.otp_devices_removed": _("%(actor)s removed second-factor devices of %(object)s"),
    "auth.enrolment_code_issued": _("%(actor)s issued an enrolment code for %(object)s"),
    "auth.enrolment_code_used": _("%(actor)s used an enrolment code"),
    "auth.enrolment_code_failed": _("%(actor)s entered a wrong enrolment code"),
    "case.view": _("%(actor)s opened the case %(reference)s"),
    "case.create": _("%(actor)s registered the case %(reference)s"),
    "case.update": _("%(actor)s changed the case %(reference)s"),
    "case.transition": _("%(actor)s changed the state of the case %(reference)s"),
    "case.transition_refused": _(
        "%(actor)s tried to change the state of the case %(reference)s (refused)"
    ),
    "case.assign": _("%(actor)s assigned the case %(reference)s to a coordinator"),
    "case.transfer": _("%(actor)s handed the case %(reference)s over to another team"),
    "case.share": _("%(actor)s shared the case %(reference)s with a colleague"),
    "case.unshare": _("%(actor)s stopped sharing the case %(reference)s"),
    "case.merge": _("%(actor)s merged the case %(reference)s with a duplicate"),
    "case.link_sibling": _("%(actor)s linked the case %(reference)s with a sibling"),
    "case.erase": _("%(actor)s erased the personal data of the case %(reference)s"),
    "case.archive_offer": _("%(actor)s offered the case %(reference)s to the archive"),
    "case.archive_decision": _(
        "%(actor)s recorded the archive's decision on the case %(reference)s"
    ),
    "case.access_report": _(
        "%(actor)s produced the copy of the stored data of the case %(reference)s"
    ),
    "referral.view": _("%(actor)s opened the referral of the case %(reference)s"),
    "referral.created": _("%(actor)s referred the case %(reference)s to an institution"),
    "referral.accepted": _("%(actor)s accepted the referral of the case %(reference)s"),
    "referral.declined": _("%(actor)s declined the referral of the case %(reference)s"),
    "referral.enrolled": _("%(actor)s confirmed the enrolment of the case %(reference)s"),
    "referral.no_show": _(
        "%(actor)s recorded that the child of the case %(reference)s did not come"
    ),
    "referral.withdrawn": _("%(actor)s withdrew the referral of the case %(reference)s"),
    "referral.expired": _("The referral of the case %(reference)s expired (no answer in time)"),
    "places.update": _("%(actor)s updated the free places"),
    "referral.transition_refused": _(
        "%(actor)s tried to change the referral of the case %(reference)s (refused)"
    ),
    "case.import": _("%(actor)s registered the case %(reference)s from an imported list"),
    "journal.add": _("%(actor)s wrote a journal entry on the case %(reference)s"),
    "followup.created": _("%(actor)s set a follow-up on the case %(reference)s"),
    "followup.done": _("%(actor)s marked a follow-up on the case %(reference)s as done"),
    "followup.cancelled": _("%(actor)s cancelled a follow-up on the case %(reference)s"),
    "followup.postponed": _("%(actor)s postponed a follow-up on the case %(reference)s"),
    "offer.create": _("%(actor)s added an education offer"),
    "offer.update": _("%(actor)s changed an education offer"),
    "offer.places": _("%(actor)s updated the free places of an education offer"),
    "offer_registration.view": _(
        "%(actor)s opened a registration for an offer (case %(reference)s)"
    ),
    "offer_registration.registered": _(
        "%(actor)s registered the child of the case %(reference)s for an offer"
    ),
    "offer_registration.confirmed": _(
        "%(actor)s confirmed the offer registration of the case %(reference)s"
    ),
    "offer_registration.declined": _(
        "%(actor)s declined the offer registration of the case %(reference)s"
    ),
    "offer_registration.withdrawn": _(
        "%(actor)s withdrew the offer registration of the case %(reference)s"
    ),
    "offer_registration.started": _(
        "%(actor)s recorded that the child of the case %(reference)s started attending an offer"
    ),
    "offer_registration.ended": _(
        "%(actor)s recorded that the child of the case %(reference)s finished an offer"
    ),
    "offer_registration.dropped_out": _(
        "%(actor)s recorded that the child of the case %(reference)s dropped out of an offer"
    ),
    "offer_registration.transition_refused": _(
        "%(actor)s tried to change the offer registration of the case %(reference)s (refused)"
    ),
    "provider.staff_change": _("%(actor)s changed the staff of an offer provider"),
    "institution.import": _("%(actor)s imported institutions and their free places"),
    "import.upload": _("%(actor)s uploaded a list to import"),
    "import.preview": _("%(actor)s looked at the values of a list to import"),
    "import.confirm": _("%(actor)s confirmed an import"),
    "import.done": _("%(actor)s finished importing a list"),
    "import.discard": _("%(actor)s discarded a list to import"),
    "transfer.export": _("%(actor)s exported the cases of a team"),
    "institution.staff_change": _("%(actor)s changed the staff of an institution"),
    "figures.export": _("%(actor)s downloaded the figures"),
    "retention.run": _("%(actor)s ran the retention (deletion of old data)"),
    "user.roles": _("%(actor)s changed the roles of %(object)s"),
    "permission.grant": _("%(actor)s granted a right on %(object)s"),
    "permission.revoke": _("%(actor)s took back a right on %(object)s"),
    "permission.change": _("%(actor)s changed a right on %(object)s"),
    "admin.add": _("%(actor)s added in the administration: %(object)s"),
    "admin.change": _("%(actor)s changed in the administration: %(object)s"),
    "admin.delete": _("%(actor)s deleted in the administration: %(object)s"),
    "admin.view_change": _("%(actor)s opened in the administration: %(object)s"),
    "admin.view_changelist": _("%(actor)s listed in the administration: %(object)s"),
    "audit.search": _("%(actor)s searched the audit log"),
    "audit.export": _("%(actor)s exported the audit log"),
    "audit.head": _("The audit log's nightly head was recorded"),
    "audit.prune": _("%(actor)s removed old audit log entries"),
    "outbox.requeue": _("%(actor)s sent e-mails again"),
    "outbox.cancel": _("%(actor)s cancelled e-mails"),
}
# A page that listed several cases' names: one entry with their references.
LISTED_CASES = _("%(actor)s saw %(count)s cases in a list (%(references)s)")
UNKNOWN_ACTION = _("%(actor)s: %(action)s")


def register_models(models: Iterable[Any]) -> None:
    """Make models known by their label (``app_label.model``), to name objects and fields."""
    for model in models:
        _MODELS[model._meta.label_lower] = model


def _model(entry: AuditEntry) -> Any:
    label = entry.object_type or _KIND_MODEL.get(entry.action.partition(".")[0], "")
    return _MODELS.get(label)


# Parts of a record that are no field of the model itself (an Art. 15 copy, an archive offer).
PARTS: dict[str, Promise] = {"guardians": _("family contacts"), "history": _("case history")}


def field_label(model: Any, code: str) -> str:
    """The field's name for people: its verbose name, for a relation the related model's
    plural ("referrals"), else the code."""
    if code in PARTS:
        return str(PARTS[code])
    if model is None:
        return code
    try:
        field = model._meta.get_field(code)
    except Exception:
        return code
    if getattr(field, "verbose_name", None):
        return str(field.verbose_name)
    related = getattr(field, "related_model", None)
    return str(related._meta.verbose_name_plural) if related is not None else code


def _entry_field_label(entry: AuditEntry, code: str) -> str:
    """A field of the entry's object, else of the case it concerns (a referral's page shows
    the child's data: its fields are the case's)."""
    label = field_label(_model(entry), code)
    if label == code and entry.case_reference:
        label = field_label(_MODELS.get(_KIND_MODEL["case"]), code)
    return label


def actor_text(entry: AuditEntry) -> str:
    """The person's full name (else the user name) and their roles at the time."""
    user = entry.actor if entry.actor_id else None
    name = (user.get_full_name() if user is not None else "") or entry.actor_name
    if not name:
        name = gettext("the system")
    roles = [str(ROLE_LABELS[r]) for r in entry.roles.split(",") if r in ROLE_LABELS]
    return f"{name} ({', '.join(roles)})" if roles else name


def object_text(entry: AuditEntry) -> str:
    """What was acted on, for the sentences that name no case: "user #12", "team #3"."""
    model = _model(entry)
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    if entry.object_type == "coordination.user" and detail.get("username"):
        return str(detail["username"])
    kind = str(model._meta.verbose_name) if model is not None else entry.object_type
    if not kind:
        return DASH
    return f"{kind} #{entry.object_id}" if entry.object_id else kind


def describe(entry: AuditEntry) -> str:
    """One sentence for people: who did what to which object, and which fields."""
    values = {
        "actor": actor_text(entry),
        "reference": entry.case_reference or (f"#{entry.object_id}" if entry.object_id else DASH),
        "object": object_text(entry),
        "action": entry.action,
    }
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    references = detail.get("references")
    if entry.action == "case.view" and not entry.case_reference and isinstance(references, list):
        shown = ", ".join(str(r) for r in references[:5]) + (" …" if len(references) > 5 else "")
        sentence = str(LISTED_CASES) % {**values, "count": len(references), "references": shown}
    else:
        sentence = str(ACTIONS.get(entry.action, UNKNOWN_ACTION)) % values
    if entry.fields:
        sentence += ": " + ", ".join(_entry_field_label(entry, code) for code in entry.fields)
    return sentence
