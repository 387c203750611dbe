"""Coordinator workspace views (thin: parse, authorise through a selector, call a service).

Only coordinators reach these pages (everyone else gets 403); a case the coordinator may not
see is a 404, so its existence is not revealed. Every page that shows decrypted personal
fields writes a ``case.view`` audit entry naming the fields shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.forms import (
    AssignForm,
    BaseGuardianFormSet,
    BulkAssignForm,
    CaseEditForm,
    CaseFilterForm,
    CaseForm,
    FollowUpForm,
    GuardianForm,
    GuardianFormSet,
    IntakeForm,
    JournalForm,
    LinkSiblingForm,
    ShareForm,
    TransferForm,
    TransitionForm,
    UnshareForm,
)
from cases.identity import KIND_ORDER, WEAK_KINDS, MatchKind
from cases.models import Case, CloseReason, State, has_placement_data, may_work_case
from cases.search import recall_search, remember_search
from cases.selectors import (
    LIST_FIELDS_SHOWN,
    case_dashboard,
    case_followups,
    case_get_for_user,
    case_guardians,
    case_mails,
    case_shared_with,
    case_siblings,
    case_transitions_for,
    cases_filtered,
    cases_for_list,
    cases_matching_identity,
    cases_possible_siblings,
    cases_search,
    cases_visible_ids,
    cases_visible_to,
    guardian_get_for_case,
    work_queue,
)
from cases.services import (
    REASON_REQUIRED,
    case_assign,
    case_link_sibling,
    case_looked_at,
    case_register,
    case_share,
    case_transfer,
    case_transition,
    case_unshare,
    case_update,
    guardian_save,
    may_manage_case,
)
from cases.timeline import TIMELINE_FIELDS_SHOWN, case_timeline
from coordination.audit import audit_log
from coordination.crypto import blind_index
from coordination.exceptions import DomainError
from coordination.fields import encrypted_fields
from coordination.http import AuthenticatedRequest
from coordination.models import OfficeSettings
from coordination.roles import is_coordinator

PAGE_SIZE = 50
NOT_RECORDED = "\u2013"  # an en dash
# Identity fields shown next to a possible duplicate or sibling.
IDENTITY_SHOWN = ("given_name", "family_name", "birth_date")
IDENTITY_ONLY = ("id", "reference", "state", "team", "team__name", "team__mailbox", "erased_at")

View = Callable[..., HttpResponse]


def coordinator_required(view: View) -> View:
    """Login, then the coordinator role; everyone else gets 403 (not a redirect)."""

    @wraps(view)
    @login_required
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_coordinator(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def case_object_view(view: View) -> View:
    """Login, then the coordinator role; for everyone else a case URL is a 404, so that
    the answer never reveals whether the case exists."""

    @wraps(view)
    @login_required
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_coordinator(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _audit_view(
    request: AuthenticatedRequest, case: Case, fields: Iterable[str], view: str
) -> None:
    audit_log(
        actor=request.user, action="case.view", obj=case, fields=fields, detail={"view": view}
    )


def _audit_listed(
    request: AuthenticatedRequest, cases: Iterable[Case], fields: Iterable[str], view: str
) -> None:
    """One entry for a page that lists several cases' names (constant cost per page)."""
    references = sorted({c.reference for c in cases})
    if references:
        audit_log(
            actor=request.user,
            action="case.view",
            fields=fields,
            detail={"view": view, "references": references},
        )


def _next_or(request: AuthenticatedRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _form_errors(form: Any) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _personal_fields() -> list[str]:
    return [f.name for f in encrypted_fields(Case)]


# --- dashboard and list --------------------------------------------------------------------


@coordinator_required
@require_GET
def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    data = case_dashboard(user=request.user)
    queue = work_queue(user=request.user, scope=request.GET.get("queue") or "mine")
    data["queue"] = queue
    # One entry for the page: the names listed (and the follow-up reasons in the queue).
    queued = [item.case for item in queue["items"] if item.case is not None]
    _audit_listed(
        request,
        [*data["longest"], *data["stuck"], *queued],
        [*LIST_FIELDS_SHOWN, *(["followup.reason"] if queued else [])],
        "dashboard",
    )
    return render(request, "cases/dashboard.html", data)


@coordinator_required
@require_http_methods(["GET", "POST"])
def case_list(request: AuthenticatedRequest) -> HttpResponse:
    """The case list; its search form posts, so no search term ever enters a URL.

    A POST answers with a redirect to the list whose URL holds the filters and, for a
    search, a random token naming the term kept (encrypted) in the session. A ``q`` in a
    URL (an old bookmark) is not searched: the page says why.
    """
    if request.method == "POST":
        return _case_list_post(request)
    data = request.GET.copy()
    stale_query = bool(data.pop("q", None))
    token = data.get("s") or ""
    query = recall_search(request.session, token) if token else None
    expired = bool(token) and query is None
    if query is None:
        data.pop("s", None)
    else:
        data["q"] = query
    form = CaseFilterForm(data or None, user=request.user)
    filters = form.filters()
    context: dict[str, Any] = {
        "form": form,
        "assign_form": AssignForm(prefix="assign", user=request.user),
        "filtered": bool(data),
        "office": OfficeSettings.current(),
        "stale_query": stale_query,
        "expired": expired,
        "scope": filters["scope"],
        "state_label": State(filters["state"]).label if filters.get("state") else "",
        "scope_links": _scope_links(data),
    }
    links = data.copy()
    links.pop("page", None)
    links.pop("q", None)
    context["query"] = links.urlencode()
    if query:
        search_filters = {k: v for k, v in filters.items() if k != "scope"}
        result = cases_search(
            user=request.user,
            query=query,
            within=cases_filtered(user=request.user, filters=search_filters),
        )
        hits = Paginator(result.hits, PAGE_SIZE).get_page(request.GET.get("page"))
        for hit in hits.object_list:
            hit.case.search_reason = hit.reason  # type: ignore[attr-defined]
        shown = [hit.case for hit in hits.object_list]
        _audit_listed(request, shown, LIST_FIELDS_SHOWN, "search")
        context.update(page=hits, cases=shown, search=result, searching=True)
    else:
        cases = cases_for_list(cases_filtered(user=request.user, filters=filters))
        page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
        _audit_listed(request, page.object_list, LIST_FIELDS_SHOWN, "list")
        context.update(page=page, cases=page.object_list, searching=False)
    return render(request, "cases/list.html", context)


def _case_list_post(request: AuthenticatedRequest) -> HttpResponse:
    form = CaseFilterForm(request.POST, user=request.user)
    params = form.url_params()
    query = " ".join((request.POST.get("q") or "").split())
    if form.has_error("q"):
        messages.error(request, _form_errors(form))
    elif query:
        params["s"] = remember_search(request.session, query)
        params.pop("scope", None)  # a search looks at every state (see docs/search.md)
    return HttpResponseRedirect(f"{reverse('cases:list')}?{urlencode(params)}", status=303)


def _scope_links(data: Any) -> dict[str, str]:
    """The list's "open cases / all cases" links, keeping the other filters."""
    links = {}
    for scope in ("open", "all"):
        params = data.copy()
        for key in ("page", "q", "s", "state"):
            params.pop(key, None)
        params["scope"] = scope
        links[scope] = params.urlencode()
    return links


@coordinator_required
@require_POST
def bulk_assign(request: AuthenticatedRequest) -> HttpResponse:
    form = BulkAssignForm(
        request.POST, visible=cases_visible_to(request.user), prefix="assign", user=request.user
    )
    target = _next_or(request, reverse("cases:list"))
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return HttpResponseRedirect(target)
    coordinator = form.cleaned_data["coordinator"]
    try:
        count = case_assign(
            cases=form.cleaned_data["cases"], by=request.user, coordinator=coordinator
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d case assigned to %(name)s.",
                "%(count)d cases assigned to %(name)s.",
                count,
            )
            % {"count": count, "name": coordinator},
        )
    return HttpResponseRedirect(target)


# --- intake --------------------------------------------------------------------------------


def _review_token(data: dict[str, Any]) -> str:
    """Which identity the duplicate/sibling warnings were shown for (changes with the data)."""
    birth = data["birth_date"].isoformat() if data.get("birth_date") else ""
    key = f"{data.get('given_name', '')}|{data.get('family_name', '')}|{birth}"
    return blind_index(key, purpose="intake-review")[:32]


def _intake_checks(user: Any, family_name: str, identity: dict[str, Any] | None) -> dict:
    """Possible duplicates (needs ``identity``) and siblings: the cases the user may open,
    and for the others only their teams. Names are decrypted only for openable cases.

    Each duplicate says how it matched (``match_kind``, see ``cases/identity.py``); a match
    on a swapped or placeholder date is listed as a weaker hint, never left out.
    """
    duplicates: list[Case] = []
    if identity:
        duplicates = sorted(
            cases_matching_identity(
                given_name=identity.get("given_name") or "",
                family_name=identity.get("family_name") or "",
                birth_date=identity.get("birth_date"),
            )
            .select_related("team")
            .only(*IDENTITY_ONLY)
            .order_by("id")[:20],
            key=lambda c: (KIND_ORDER.get(c.match_kind, 99), c.pk),  # type: ignore[attr-defined]
        )
    siblings = list(
        cases_possible_siblings(family_name=family_name)
        .exclude(pk__in=[d.pk for d in duplicates])
        .select_related("team")
        .only(*IDENTITY_ONLY)
        .order_by("id")[:20]
    )
    visible = cases_visible_ids(user=user, ids=[c.pk for c in duplicates + siblings])
    named = {
        c.pk: c
        for c in cases_visible_to(user)
        .filter(pk__in=visible)
        .only("id", "reference", "state", "given_name", "family_name", "birth_date", "erased_at")
    }
    kinds = {c.pk: MatchKind(c.match_kind) for c in duplicates}  # type: ignore[attr-defined]

    def split(cases: list[Case]) -> tuple[list[Case], list[Any]]:
        mine = [named[c.pk] for c in cases if c.pk in named]
        for case in mine:
            if case.pk in kinds:
                case.match_kind = kinds[case.pk]  # type: ignore[attr-defined]
                case.weak_match = kinds[case.pk] in WEAK_KINDS  # type: ignore[attr-defined]
        teams: dict[int, Any] = {}
        for c in cases:
            if c.pk in named:
                continue
            team = teams.setdefault(c.team_id, c.team)
            # The team's strongest kind of match: which team to call, and how sure it is.
            if c.pk in kinds and (
                getattr(team, "match_kind", None) is None
                or KIND_ORDER[kinds[c.pk]] < KIND_ORDER[team.match_kind]
            ):
                team.match_kind = kinds[c.pk]
                team.weak_match = kinds[c.pk] in WEAK_KINDS
        return mine, list(teams.values())

    dup_visible, dup_teams = split(duplicates)
    sib_visible, sib_teams = split(siblings)
    return {
        "duplicates": dup_visible,
        "duplicate_teams": dup_teams,
        "siblings": sib_visible,
        "sibling_teams": sib_teams,
        "named": list(named.values()),
        "any": bool(duplicates or siblings),
        "has_duplicates": bool(duplicates),
        "only_weak": bool(duplicates) and all(k in WEAK_KINDS for k in kinds.values()),
    }


@coordinator_required
@require_http_methods(["GET", "POST"])
def register(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    if user.team_id is None:  # type: ignore[union-attr]
        messages.error(request, _("Only a coordinator with a team can register a case."))
        return redirect("cases:dashboard")

    def page(checks: dict | None = None, review_token: str = "") -> HttpResponse:
        if checks:
            # The warning shows the names of the matching cases the user may open.
            _audit_listed(request, checks["named"], IDENTITY_SHOWN, "intake-check")
        return render(
            request,
            "cases/register.html",
            {
                "form": form,
                "formset": formset,
                "checks": checks,
                "review_token": review_token,
            },
        )

    if request.method != "POST":
        form = IntakeForm(user=user)
        form.set_sibling_choices([])
        formset = GuardianFormSet(prefix="guardians")
        return page()

    form = IntakeForm(request.POST, user=user)
    # The sibling choices are offered from the family name as typed, so that a chosen
    # sibling validates against exactly the (openable) cases that were shown.
    raw_family = " ".join(str(request.POST.get("family_name", ""))[:100].split())
    candidates = _intake_checks(user, raw_family, None)["siblings"]
    form.set_sibling_choices([(c.pk, f"{c.reference}: {c.display_name}") for c in candidates])
    formset = cast(BaseGuardianFormSet, GuardianFormSet(request.POST, prefix="guardians"))
    formset.require_contact = not request.POST.get("sibling_of")
    if not (form.is_valid() and formset.is_valid()):
        return page()
    data = form.cleaned_data
    checks = _intake_checks(user, data["family_name"], data)
    token = _review_token(data)
    if checks["any"] and data.get("review") != token:
        messages.warning(request, _("Please check the possible matches below, then save again."))
        return page(checks, token)
    if checks["has_duplicates"] and not data.get("confirm_duplicate"):
        form.add_error(
            "confirm_duplicate",
            _("Confirm that this is a different child, or open the existing case instead."),
        )
        return page(checks, token)
    sibling = None
    if data.get("sibling_of"):
        sibling = case_get_for_user(user=user, pk=data["sibling_of"])
    try:
        case = case_register(
            by=user,
            data=form.service_data(),
            guardians=formset.contacts(new_family=sibling is None),
            sibling_of=sibling,
        )
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return page(checks if checks["any"] else None, token)
    messages.success(request, _("Case %(reference)s registered.") % {"reference": case.reference})
    return redirect("cases:detail", pk=case.pk)


# --- the case page ---------------------------------------------------------------------------


# The step forward per state: the primary button of the case page. In "ready" it is the
# referral form (a link the referrals panel provides), in "referred" there is none (waiting
# for the institution's answer), in "placed" it is setting a follow-up.
PRIMARY_TRANSITION = {
    State.INTAKE: "start_clarification",
    State.CLARIFICATION: "mark_ready",
    State.ON_HOLD: "resume",
    State.CLOSED: "reopen",
}


@case_object_view
@require_GET
def detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    case_looked_at(case=case, by=request.user)
    return render_detail(request, case)


def render_detail(request: AuthenticatedRequest, case: Case, **forms: Any) -> HttpResponse:
    """The case page; ``forms`` are bound forms shown again with their errors."""
    user = request.user
    guardians = case_guardians(case=case)
    siblings = case_siblings(user=user, case=case)
    timeline = case_timeline(case=case)
    shared = list(case_shared_with(case=case))
    candidates = _sibling_candidates(user, case) if case.erased_at is None else []
    primary = PRIMARY_TRANSITION.get(State(case.state))
    transitions = sorted(
        [
            {
                "name": name,
                "label": label,
                "needs_reason": name in REASON_REQUIRED,
                "is_close": name == "close",
                "primary": name == primary,
            }
            for name, label in case_transitions_for(user=user, case=case)
        ],
        key=lambda t: not t["primary"],
    )
    _audit_view(
        request,
        case,
        [*_personal_fields(), "guardians", "history", *TIMELINE_FIELDS_SHOWN],
        "detail",
    )
    _audit_listed(
        request,
        [s for s, ok in siblings if ok] + candidates,
        ("given_name", "family_name"),
        "detail-siblings",
    )
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "guardians": guardians,
            "siblings": siblings,
            "timeline": timeline,
            "followups": case_followups(case=case),
            "followup_form": forms.get("followup_form")
            or FollowUpForm(prefix="followup", initial={"for_whom": FollowUpForm.FOR_ME}),
            "journal_form": forms.get("journal_form") or JournalForm(prefix="journal"),
            "may_work": may_work_case(case, user),
            "today": timezone.localdate(),
            "transitions": transitions,
            "close_reasons": CloseReason.choices,
            "shared": shared,
            "mails": case_mails(user=user, case=case),
            "may_manage": may_manage_case(case, user),
            "assign_form": AssignForm(
                initial={"coordinator": case.coordinator_id}, prefix="assign", user=user
            ),
            "share_form": ShareForm(case=case, prefix="share"),
            "unshare_form": UnshareForm(shared_with=case_shared_with(case=case), prefix="unshare"),
            "link_form": LinkSiblingForm(
                candidates=[(c.pk, f"{c.reference}: {c.display_name}") for c in candidates],
                prefix="link",
            ),
            "sibling_candidates": candidates,
            "missing_placement_data": case.state == State.CLARIFICATION
            and not has_placement_data(case),
            "days_without_place": case.days_without_place(),
            "sections": _display_sections(case),
            "office": OfficeSettings.current(),
        },
    )


def _display_value(case: Case, name: str) -> str:
    """One field of the case as text for the case page (localised; a dash if not recorded)."""
    if name == "district":
        return case.district.name if case.district else NOT_RECORDED
    value = getattr(case, name)
    field = Case._meta.get_field(name)
    if value is None or value in ("", []):
        return NOT_RECORDED
    if field.choices:
        return str(getattr(case, f"get_{name}_display")())
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _display_sections(case: Case) -> list[tuple[Any, list[tuple[Any, str]]]]:
    if case.erased_at is not None:
        return []
    return [
        (
            title,
            [
                (capfirst(Case._meta.get_field(n).verbose_name), _display_value(case, n))
                for n in names
            ],
        )
        for title, names in CaseForm.SECTIONS
    ]


def _sibling_candidates(user: Any, case: Case) -> list[Case]:
    """Open cases the user may work whose family name sounds the same, not yet linked."""
    return list(
        cases_possible_siblings(family_name=case.family_name or "")
        .filter(pk__in=cases_visible_to(user).values("pk"))
        .exclude(family_id=case.family_id)
        .only("id", "reference", "state", "given_name", "family_name", "erased_at")
        .order_by("id")[:10]
    )


@case_object_view
@require_POST
def transition(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("cases:detail", pk=case.pk)
    data = form.cleaned_data
    try:
        case_transition(
            case=case,
            by=request.user,
            transition=data["transition"],
            reason=data["reason"],
            comment=data["comment"],
            expected_state=data["expected_state"],
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request, _("The case is now: %(state)s.") % {"state": case.get_state_display()}
        )
    return redirect("cases:detail", pk=case.pk)


@case_object_view
@require_http_methods(["GET", "POST"])
def edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    if case.erased_at is not None:
        messages.error(request, _("The personal data of this case has been erased."))
        return redirect("cases:detail", pk=case.pk)
    version = case.version
    if request.method != "POST":
        form = CaseEditForm(initial=CaseForm.initial_for(case), user=request.user)
        _audit_view(request, case, _personal_fields(), "edit")
        return render(request, "cases/edit.html", {"case": case, "form": form, "version": version})
    form = CaseEditForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            changed = case_update(
                case=case,
                by=request.user,
                data=form.service_data(),
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
            # Keep the input; the next save is a deliberate one over the newer version.
            case.refresh_from_db(fields=["version"])
            version = case.version
        else:
            if changed:
                messages.success(request, _("The changes were saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/edit.html", {"case": case, "form": form, "version": version})


# --- family contacts -------------------------------------------------------------------------


@case_object_view
@require_http_methods(["GET", "POST"])
def guardian_edit(
    request: AuthenticatedRequest, pk: int, guardian_pk: int | None = None
) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    guardian = None
    if guardian_pk is not None:
        guardian = guardian_get_for_case(case=case, pk=guardian_pk)
    if request.method != "POST":
        form = GuardianForm(initial=GuardianForm.initial_for(guardian) if guardian else None)
        if guardian is not None:
            _audit_view(request, case, ["guardians"], "guardian")
    else:
        form = GuardianForm(request.POST)
        if form.is_valid():
            try:
                guardian_save(case=case, by=request.user, data=form.cleaned_data, guardian=guardian)
            except DomainError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("The family contact was saved."))
                return redirect("cases:detail", pk=case.pk)
    return render(
        request, "cases/guardian_form.html", {"case": case, "form": form, "guardian": guardian}
    )


# --- assignment, sharing, siblings -----------------------------------------------------------


def _case_action(
    request: AuthenticatedRequest,
    pk: int,
    form: Any,
    act: Callable[[Case, dict], Any],
    success: str,
) -> HttpResponse:
    """Shared body of the small POST-only actions on a case page."""
    case = case_get_for_user(user=request.user, pk=pk)
    bound = form(case)
    if not bound.is_valid():
        messages.error(request, _form_errors(bound))
    else:
        try:
            act(case, bound.cleaned_data)
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, success)
    return redirect("cases:detail", pk=case.pk)


@case_object_view
@require_POST
def assign(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        lambda case: AssignForm(request.POST, prefix="assign", user=request.user),
        lambda case, data: case_assign(
            cases=[case], by=request.user, coordinator=data["coordinator"]
        ),
        _("The case was assigned."),
    )


@case_object_view
@require_http_methods(["GET", "POST"])
def transfer(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Hand the case over to another team, on a page of its own: a nationwide installation has
    thousands of teams, too many to put in every case page. The user then usually loses
    access to the case."""
    case = case_get_for_user(user=request.user, pk=pk)
    if not may_manage_case(case, request.user):
        messages.error(request, _("Only the team the case belongs to can transfer it."))
        return redirect("cases:detail", pk=case.pk)
    form = TransferForm(request.POST or None, case=case, prefix="transfer")
    if request.method != "POST" or not form.is_valid():
        return render(request, "cases/transfer.html", {"case": case, "form": form})
    team = form.cleaned_data["team"]
    try:
        case_transfer(case=case, by=request.user, team=team, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "cases/transfer.html", {"case": case, "form": form})
    messages.success(
        request,
        _("Case %(reference)s was transferred to %(team)s.")
        % {"reference": case.reference, "team": team.name},
    )
    if cases_visible_to(request.user).filter(pk=case.pk).exists():
        return redirect("cases:detail", pk=case.pk)
    return redirect("cases:list")


@case_object_view
@require_POST
def share(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        lambda case: ShareForm(request.POST, case=case, prefix="share"),
        lambda case, data: case_share(case=case, by=request.user, with_user=data["with_user"]),
        _("The case was shared."),
    )


@case_object_view
@require_POST
def unshare(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _case_action(
        request,
        pk,
        lambda case: UnshareForm(
            request.POST, shared_with=case_shared_with(case=case), prefix="unshare"
        ),
        lambda case, data: case_unshare(case=case, by=request.user, with_user=data["with_user"]),
        _("The case is no longer shared with this colleague."),
    )


@case_object_view
@require_POST
def link_sibling(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    def form(case: Case) -> LinkSiblingForm:
        candidates = [(c.pk, c.reference) for c in _sibling_candidates(request.user, case)]
        return LinkSiblingForm(request.POST, candidates=candidates, prefix="link")

    def act(case: Case, data: dict) -> None:
        sibling = case_get_for_user(user=request.user, pk=data["sibling"])
        case_link_sibling(case=case, by=request.user, sibling=sibling)

    return _case_action(request, pk, form, act, _("The cases are now linked as siblings."))
