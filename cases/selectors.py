"""Every read of cases that depends on who asks. Views get their cases only from here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.db.models import Case as SqlCase
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django_fsm import has_transition_perm

from cases.extensions import WorkItem, contributed_work_items
from cases.identity import (
    KIND_ORDER,
    REPORT_JOINS,
    WEAK_KINDS,
    MatchKind,
    family_lookup_keys,
    lookup_keys,
    search_keys,
)
from cases.models import (
    WAITING_STATES,
    Case,
    CaseUserObjectPermission,
    CloseReason,
    FollowUp,
    Guardian,
    State,
    WorkItemSeen,
)
from cases.search import NameRanker, Query, parse_query
from cases.services import USER_TRANSITIONS
from coordination.models import OutboxMessage, User
from coordination.roles import COORDINATOR, is_coordinator


def cases_visible_to(user: User) -> QuerySet[Case]:
    """Cases a coordinator may see and work: their team's, and those shared with them.

    Every other role gets an empty queryset (institutions see referrals, not cases).
    """
    if not is_coordinator(user):
        return Case.objects.none()
    # The few shared ids are fetched first: "team OR id IN (...)" is answered from indexes,
    # while "team OR EXISTS(shared)" makes PostgreSQL scan every case (see the benchmark).
    shared_ids = _shared_case_ids(user)
    rule = Q(pk__in=shared_ids) if shared_ids else Q(pk__in=[])
    if user.team_id is not None:
        rule |= Q(team_id=user.team_id)
    return Case.objects.filter(rule)


def _shared_case_ids(user: User) -> list[int]:
    """Ids of the (few) cases shared with the user: one small indexed query."""
    return list(
        CaseUserObjectPermission.objects.filter(
            user=user, permission__codename="work_case"
        ).values_list("content_object_id", flat=True)
    )


def case_get_for_user(*, user: User, pk: int | str) -> Case:
    """One case the user may see, or 404 (never reveal that it exists)."""
    try:
        return (
            cases_visible_to(user).select_related("team", "coordinator", "district").get(pk=int(pk))
        )
    except (Case.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def case_get_by_reference(*, user: User, reference: str) -> Case | None:
    return cases_visible_to(user).filter(reference=reference.strip().upper()).first()


def case_transitions_for(*, user: User, case: Case) -> list[tuple[str, Any]]:
    """The coordinator transitions this user may take on this case now (for buttons)."""
    allowed = []
    for name, label in USER_TRANSITIONS.items():
        method = getattr(case, name)
        if has_transition_perm(method, user):
            allowed.append((name, label))
    return allowed


def cases_matching_identity(
    *, given_name: str, family_name: str, birth_date: dt.date | None
) -> QuerySet[Case]:
    """Possible duplicates among all cases, for the intake warning.

    Each case carries ``match_kind`` (a ``MatchKind``: same spelling, another spelling, names
    swapped, day and month swapped, only the year of a placeholder date). Every condition is
    an indexed equality on a blind index (``cases/identity.py``); nothing is decrypted.
    """
    if not family_name or birth_date is None:
        return Case.objects.none()
    keys = lookup_keys(given_name, family_name, birth_date)
    match = Q()
    for column, key, _kind in keys:
        match |= Q(**{column: key})
    kind = SqlCase(
        *(When(Q(**{column: key}), then=Value(k.value)) for column, key, k in keys),
        default=Value(MatchKind.YEAR_ONLY.value),
        output_field=CharField(),
    )
    return Case.objects.filter(match, erased_at__isnull=True).annotate(match_kind=kind)


def cases_possible_siblings(*, family_name: str) -> QuerySet[Case]:
    """Cases with a family name that sounds or folds the same, open ones only."""
    if not family_name.strip():
        return Case.objects.none()
    match = Q()
    for column, key in family_lookup_keys(family_name):
        match |= Q(**{column: key})
    return Case.objects.filter(match, erased_at__isnull=True).exclude(state="closed")


@dataclass
class SearchHit:
    """One case found by the list search: how well it matched and why (shown in the row)."""

    case: Case
    score: float
    reason: str


@dataclass
class SearchResult:
    hits: list[SearchHit]
    query: Query
    # How many cases were searched (the visible ones narrowed by the other filters, and by
    # a birth date or year typed with a name), and how many matched before the cut at
    # ``SEARCH_LIMIT``.
    searched: int
    matched: int

    @property
    def truncated(self) -> bool:
        return self.matched > len(self.hits)


SEARCH_LIMIT = 200


def cases_search(
    *, user: User, query: str, within: QuerySet[Case] | None = None, limit: int = SEARCH_LIMIT
) -> SearchResult:
    """Search the cases the user may see (``within``: already narrowed by other filters).

    A reference, a birth date or a birth year is an indexed lookup. A name is matched in
    memory: the two name columns of the searched cases are decrypted in one pass and ranked
    by ``cases.search.NameRanker`` (exact, prefix, another spelling, one typo; either order).
    Nothing about the query is written anywhere.
    """
    visible = cases_visible_to(user)
    base = (visible if within is None else within).order_by()
    parsed = parse_query(" ".join(query.split()), today=timezone.localdate())
    found: dict[int, tuple[float, str]] = {}  # pk -> (score, reason)
    if parsed.reference is not None:
        for pk in base.filter(reference__endswith=parsed.reference.suffix()).values_list(
            "pk", flat=True
        ):
            found[pk] = (1000.0, str(capfirst(_("reference"))))
    narrowed = base
    facts: list[str] = []
    if parsed.birth is not None:
        key = search_keys(birth=parsed.birth)["bidx_birth"]
        narrowed = narrowed.filter(bidx_birth=key)
        facts.append(_("birth date %(date)s") % {"date": parsed.birth.strftime("%d.%m.%Y")})
    if parsed.year is not None:
        narrowed = narrowed.filter(birth_year=parsed.year)
        facts.append(_("birth year %(year)s") % {"year": parsed.year})
    searched = 0
    if parsed.words:
        ranker = NameRanker(parsed)
        rows = narrowed.values_list("pk", "given_name", "family_name")
        for pk, given, family in rows:
            searched += 1
            match = ranker.match(given or "", family or "")
            if match is not None and pk not in found:
                reason = "; ".join([*facts, *match.reasons])
                found[pk] = (match.score, str(capfirst(reason)))
    elif facts:
        for pk in narrowed.values_list("pk", flat=True):
            found.setdefault(pk, (500.0, str(capfirst("; ".join(facts)))))
    if not parsed.words:
        searched = base.count()
    ranked = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    rows_by_pk = cases_for_list(Case.objects.filter(pk__in=[pk for pk, _f in ranked])).in_bulk()
    hits = [
        SearchHit(case=rows_by_pk[pk], score=score, reason=reason)
        for pk, (score, reason) in ranked
        if pk in rows_by_pk
    ]
    return SearchResult(hits=hits, query=parsed, searched=searched, matched=len(found))


# --- the coordinator's workspace: list, dashboard, assignment ------------------------------

# Age bands (inclusive years of age) for the list filter; computed from the plain birth year,
# so a band can be off by one year around birthdays (good enough to narrow a list).
AGE_BANDS: dict[str, tuple[int, int]] = {
    "0-2": (0, 2),
    "3-5": (3, 5),
    "6-9": (6, 9),
    "10-15": (10, 15),
    "16-18": (16, 18),
    "19-21": (19, 21),
}
WAITING_FILTERS = ("under_target", "over_target", "over_limit", "stuck")
LIST_SORTS = {
    "waiting": ("waiting_since", "id"),
    "newest": ("-created_at", "-id"),
    "reference": ("reference",),
    "state_since": ("state_changed_at", "id"),
}

# The columns a list row shows. Only the two name columns are encrypted: a list page decrypts
# nothing else. Deliberately its own list (not ``PLAIN_FIELDS``/``EDITABLE_FIELDS``).
LIST_ONLY = (
    "id", "reference", "state", "target_type", "wanted_group", "waiting_since",
    "state_changed_at", "birth_year", "erased_at", "created_at", "given_name", "family_name",
    "team", "team__name", "district", "district__name", "coordinator",
    "coordinator__username", "coordinator__first_name", "coordinator__last_name",
)  # fmt: skip
LIST_FIELDS_SHOWN = ("given_name", "family_name")


def _waiting_thresholds(today: dt.date) -> dict[str, Any]:
    from coordination.models import OfficeSettings

    office = OfficeSettings.current()
    return {
        "office": office,
        "target_date": today - dt.timedelta(days=office.waiting_target_days),
        "limit_date": today - dt.timedelta(days=office.waiting_limit_days),
        "stuck_since": timezone.now() - dt.timedelta(days=office.stuck_target_days),
    }


def cases_filtered(*, user: User, filters: Mapping[str, Any]) -> QuerySet[Case]:
    """The visible cases narrowed by the list filters (every filter is an indexed column)."""
    qs = cases_visible_to(user)
    if filters.get("scope") == "open" and not filters.get("state"):
        qs = qs.filter(state__in=WAITING_STATES)
    today = timezone.localdate()
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("target"):
        qs = qs.filter(target_type=filters["target"])
    if filters.get("district"):
        qs = qs.filter(district=filters["district"])
    if filters.get("team"):
        qs = qs.filter(team=filters["team"])
    if filters.get("coordinator"):
        qs = qs.filter(coordinator=filters["coordinator"])
    if filters.get("mine"):
        qs = qs.filter(coordinator=user)
    band = AGE_BANDS.get(filters.get("age") or "")
    if band is not None:
        youngest, oldest = band
        qs = qs.filter(birth_year__gte=today.year - oldest, birth_year__lte=today.year - youngest)
    waiting = filters.get("waiting")
    if waiting in WAITING_FILTERS:
        limits = _waiting_thresholds(today)
        if waiting == "stuck":
            qs = qs.filter(state__in=WAITING_STATES, state_changed_at__lt=limits["stuck_since"])
        elif waiting == "over_limit":
            qs = qs.filter(state__in=WAITING_STATES, waiting_since__lt=limits["limit_date"])
        elif waiting == "over_target":
            qs = qs.filter(state__in=WAITING_STATES, waiting_since__lt=limits["target_date"])
        else:
            qs = qs.filter(state__in=WAITING_STATES, waiting_since__gte=limits["target_date"])
    return qs.order_by(*LIST_SORTS.get(filters.get("sort") or "", LIST_SORTS["waiting"]))


def cases_for_list(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Load only the columns a list row shows (names are the only decrypted fields)."""
    return qs.select_related("team", "district", "coordinator").only(*LIST_ONLY)


def case_dashboard(*, user: User, limit: int = 10) -> dict[str, Any]:
    """Counts by state (mine / all visible), waiting and stuck figures, the longest waiting.

    A fixed number of queries whatever the number of cases: one aggregate and two short lists.
    """
    today = timezone.localdate()
    limits = _waiting_thresholds(today)
    visible = cases_visible_to(user)
    waiting = Q(state__in=WAITING_STATES)
    by_state: dict[str, dict[str, Any]] = {
        row["state"]: dict(row)
        for row in visible.order_by()
        .values("state")
        .annotate(
            total=Count("id"),
            mine=Count("id", filter=Q(coordinator=user)),
            over_target=Count("id", filter=waiting & Q(waiting_since__lt=limits["target_date"])),
            over_limit=Count("id", filter=waiting & Q(waiting_since__lt=limits["limit_date"])),
            stuck=Count("id", filter=waiting & Q(state_changed_at__lt=limits["stuck_since"])),
        )
    }
    states = [
        {
            "state": value,
            "label": label,
            "total": by_state.get(value, {}).get("total", 0),
            "mine": by_state.get(value, {}).get("mine", 0),
        }
        for value, label in State.choices
    ]
    totals = {
        key: sum(row[key] for row in by_state.values())
        for key in ("total", "mine", "over_target", "over_limit", "stuck")
    }
    open_waiting = cases_for_list(visible.filter(waiting))
    longest = list(open_waiting.order_by("waiting_since", "id")[:limit])
    stuck = list(
        open_waiting.filter(state_changed_at__lt=limits["stuck_since"]).order_by(
            "state_changed_at", "id"
        )[:limit]
    )
    return {
        "states": states,
        "totals": totals,
        "longest": longest,
        "stuck": stuck,
        "office": limits["office"],
        "target_date": limits["target_date"],
        "limit_date": limits["limit_date"],
        "stuck_since": limits["stuck_since"],
        "today": today,
    }


def teams_visible_to(user: User) -> QuerySet[Any]:
    """The user's own team and the teams of cases shared with the user."""
    from coordination.models import Team

    shared_ids = _shared_case_ids(user) if is_coordinator(user) else []
    # The teams of the shared cases as a subquery on their ids: a join of every team with its
    # cases (``cases__in``) read the whole case table at nationwide scale (1.6 s at 1,000,000).
    rule = Q(pk__in=Case.objects.filter(pk__in=shared_ids).values("team_id"))
    if getattr(user, "team_id", None) is not None:
        rule |= Q(pk=user.team_id)
    return Team.objects.filter(rule).order_by("name")


def districts_visible_to(user: User) -> QuerySet[Any]:
    """The districts of the cases the user can see: the case list's district filter.

    A state-wide installation has hundreds of districts; a team works in a few of them, and a
    district without any visible case would only ever filter the list down to nothing.
    """
    from coordination.models import District

    if not is_coordinator(user):
        return District.objects.none()
    # The visibility rule as two subqueries (the team's cases; the cases shared with the
    # user) in one query: each is answered from its index, and no extra round trip is made
    # for the shared ids that ``cases_visible_to`` reads first.
    shared = CaseUserObjectPermission.objects.filter(
        user=user, permission__codename="work_case"
    ).values("content_object_id")
    rule = Q(pk__in=Case.objects.filter(pk__in=shared).values("district_id"))
    if user.team_id is not None:
        rule |= Q(pk__in=Case.objects.filter(team_id=user.team_id).values("district_id"))
    return District.objects.filter(rule).order_by("name")


def coordinators_for_assignment() -> QuerySet[Any]:
    """Active coordinators with a team: who a case can be assigned or shared to."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True, team__isnull=False, groups__name=COORDINATOR)
        .select_related("team")
        .order_by("team__name", "last_name", "first_name", "username")
        .distinct()
    )


def teams_for_transfer(*, case: Case) -> QuerySet[Any]:
    """The teams a case can be handed over to: every other team with an active coordinator."""
    from coordination.models import Team

    return (
        Team.objects.exclude(pk=case.team_id)
        .filter(pk__in=coordinators_for_assignment().order_by().values("team_id"))
        .order_by("name")
    )


def case_shared_with(*, case: Case) -> QuerySet[Any]:
    """The coordinators a case is shared with (guardian object permission)."""
    from django.contrib.auth import get_user_model

    held = CaseUserObjectPermission.objects.filter(
        content_object=case, user=OuterRef("pk"), permission__codename="work_case"
    )
    return get_user_model().objects.filter(Exists(held)).select_related("team").order_by("username")


def case_siblings(*, user: User, case: Case) -> list[tuple[Case, bool]]:
    """The other children of the case's family, each with whether the user may open it.

    A sibling the user may not see is loaded without its encrypted columns (only its team is
    shown, as for duplicates).
    """
    identity = ("id", "reference", "state", "team", "team__name", "team__mailbox", "erased_at")
    family = Case.objects.filter(family_id=case.family_id).exclude(pk=case.pk)
    visible = set(
        cases_visible_to(user)
        .filter(family_id=case.family_id)
        .exclude(pk=case.pk)
        .values_list("pk", flat=True)
    )
    # Names are loaded (and decrypted) only for the siblings the user may open, in one query.
    named = {
        s.pk: s
        for s in family.filter(pk__in=visible)
        .select_related("team")
        .only(*identity, "given_name", "family_name")
    }
    others = family.exclude(pk__in=visible).select_related("team").only(*identity)
    siblings = sorted([*named.values(), *others], key=lambda s: s.pk)
    return [(s, s.pk in visible) for s in siblings]


def cases_visible_ids(*, user: User, ids: Iterable[int]) -> set[int]:
    """Which of the given case ids the user may open (for duplicate and sibling hints)."""
    ids = list(ids)
    if not ids:
        return set()
    return set(cases_visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))


def case_guardians(*, case: Case) -> list[Guardian]:
    """The family contacts of a case the caller has already authorised (its family's)."""
    return list(Guardian.objects.filter(family_id=case.family_id))


def guardian_get_for_case(*, case: Case, pk: int) -> Guardian:
    """One family contact of the case's family, or 404 (a contact of another family)."""
    guardian = Guardian.objects.filter(family_id=case.family_id, pk=pk).first()
    if guardian is None:
        raise Http404
    return guardian


# --- duplicates: the administrators' report and the merge form ------------------------------

REPORT_COLUMNS = ("id", "reference", "state", "team", "team__name", "created_at")


def case_duplicate_pairs(*, limit: int = 500) -> tuple[list[dict[str, Any]], int]:
    """Likely duplicate pairs across the whole installation, strongest kind first.

    Self-joins on the blind-index columns (``REPORT_JOINS``): no decryption, and only
    references, teams and states leave this function. Erased cases and cases already closed
    as duplicates are left out. Returns (up to ``limit`` pairs, the number of pairs found).
    """
    base = Case.objects.filter(erased_at__isnull=True).exclude(close_reason=CloseReason.DUPLICATE)
    found: dict[tuple[int, int], MatchKind] = {}
    for left, right, kind in REPORT_JOINS:
        if left == right:
            repeated = (
                base.exclude(**{f"{left}__isnull": True})
                .order_by()
                .values(left)
                .annotate(n=Count("id"))
                .filter(n__gt=1)
                .values(left)
            )
            lefts = list(base.filter(**{f"{left}__in": repeated}).values_list("pk", left))
            rights = lefts
        else:
            lefts = list(
                base.filter(
                    **{f"{left}__in": base.exclude(**{f"{right}__isnull": True}).values(right)}
                ).values_list("pk", left)
            )
            rights = list(
                base.filter(
                    **{f"{right}__in": base.exclude(**{f"{left}__isnull": True}).values(left)}
                ).values_list("pk", right)
            )
        by_key: dict[str, list[int]] = {}
        for pk, key in rights:
            by_key.setdefault(key, []).append(pk)
        for pk, key in lefts:
            for other in by_key.get(key, ()):
                if other == pk:
                    continue
                pair = (min(pk, other), max(pk, other))
                if pair not in found or KIND_ORDER[kind] < KIND_ORDER[found[pair]]:
                    found[pair] = kind
    ordered = sorted(found.items(), key=lambda item: (KIND_ORDER[item[1]], item[0]))[:limit]
    ids = {pk for pair, _kind in ordered for pk in pair}
    cases = {
        c.pk: c
        for c in Case.objects.filter(pk__in=ids).select_related("team").only(*REPORT_COLUMNS)
    }
    pairs = [
        {"first": cases[a], "second": cases[b], "kind": kind, "weak": kind in WEAK_KINDS,
         "same_team": cases[a].team_id == cases[b].team_id}
        for (a, b), kind in ordered
    ]  # fmt: skip
    return pairs, len(found)


def cases_merge_candidates(*, user: User, case: Case) -> QuerySet[Case]:
    """Open cases of the user's own team (other than ``case``) that may be merged into it."""
    if not is_coordinator(user) or user.team_id is None:
        return Case.objects.none()
    return (
        Case.objects.filter(team_id=user.team_id, erased_at__isnull=True)
        .exclude(pk=case.pk)
        .exclude(state=State.CLOSED)
    )


def case_likely_duplicates(*, user: User, case: Case) -> list[Case]:
    """The merge candidates whose identity keys match the case's own (suggestions)."""
    if case.erased_at is not None:
        return []
    matches = cases_matching_identity(
        given_name=case.given_name or "",
        family_name=case.family_name or "",
        birth_date=cast(dt.date | None, case.birth_date),
    ).filter(pk__in=cases_merge_candidates(user=user, case=case).values("pk"))
    found = list(
        matches.only("id", "reference", "state", "given_name", "family_name", "birth_date")[:10]
    )
    return sorted(found, key=lambda c: (KIND_ORDER.get(c.match_kind, 99), c.pk))  # type: ignore[attr-defined]


def case_mails(*, user: User, case: Case, limit: int = 50) -> list[OutboxMessage]:
    """The outgoing e-mails about a case (newest first), for those who may see the case."""
    if not cases_visible_to(user).filter(pk=case.pk).exists():
        return []
    return list(
        OutboxMessage.objects.filter(case_reference=case.reference)
        .only("kind", "to", "subject", "state", "attempts", "last_error", "created_at", "sent_at")
        .order_by("-created_at", "-id")[:limit]
    )


# --- the working day: the work queue, follow-ups, the timeline (issue 17) --------------------
# See docs/working-day.md. The queue costs a fixed number of queries however many cases the
# user has: each kind of item is one query over the queue's cases (used as a subquery), and
# names are decrypted only for the cases the page shows.

QUEUE_SCOPES = ("mine", "team")
QUEUE_LIMIT = 100
# Identity keys that make a "likely duplicate" hint in the queue (the strong kinds only; the
# weaker ones stay in the administrators' report and the intake warning).
QUEUE_DUPLICATE_KEYS = ("bidx_identity", "bidx_id_ordered", "bidx_phonetic", "bidx_id_sorted")


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _queue_visible(user: Any, shared_ids: list[int]) -> QuerySet[Case]:
    visible = Q(pk__in=shared_ids)
    if user.team_id is not None:
        visible |= Q(team_id=user.team_id)
    return Case.objects.filter(visible, erased_at__isnull=True).exclude(state=State.CLOSED)


def work_queue_cases(
    *, user: Any, scope: str = "mine", shared_ids: list[int] | None = None
) -> QuerySet[Case]:
    """The open cases a queue looks at: the user's own (assigned or shared with them), or
    everything the user can see (the team's and shared)."""
    if not is_coordinator(user):
        return Case.objects.none()
    if shared_ids is None:
        shared_ids = _shared_case_ids(user)
    qs = _queue_visible(user, shared_ids)
    if scope != "team":
        qs = qs.filter(Q(coordinator=user) | Q(pk__in=shared_ids))
    return qs


def _next_step_label(state: str) -> str:
    labels: dict[str, str] = {
        State.INTAKE: gettext("Start clarification"),
        State.CLARIFICATION: gettext("Finish clarification"),
        State.READY: gettext("Refer to a school or Kita"),
        State.REFERRED: gettext("Check the referral"),
        State.ON_HOLD: gettext("Check the hold"),
        State.PLACED: gettext("Open the case"),
    }
    return labels.get(state, gettext("Open the case"))


def _waiting_items(cases: QuerySet[Case], today: dt.date) -> list[WorkItem]:
    """Over the legal limit, over the service target, stuck in one state."""
    from django.urls import reverse

    limits = _waiting_thresholds(today)
    office = limits["office"]
    rows = (
        cases.filter(state__in=WAITING_STATES)
        .filter(
            Q(waiting_since__lt=limits["target_date"])
            | Q(state_changed_at__lt=limits["stuck_since"])
        )
        .values("id", "state", "waiting_since", "state_changed_at")
    )
    items = []
    for row in rows:
        url = reverse("cases:detail", args=[row["id"]]) + "#next-step"
        label = _next_step_label(row["state"])
        days = (today - row["waiting_since"]).days
        since = row["waiting_since"]
        if since < limits["limit_date"]:
            items.append(WorkItem(
                row["id"], "over_limit",
                gettext("Over the legal limit: %(days)d days without a place (limit %(limit)d).")
                % {"days": days, "limit": office.waiting_limit_days},
                label, url, _start_of(since + dt.timedelta(days=office.waiting_limit_days)),
                f"over_limit:{since.isoformat()}",
            ))  # fmt: skip
        elif since < limits["target_date"]:
            items.append(WorkItem(
                row["id"], "over_target",
                gettext(
                    "Over the service target: %(days)d days without a place (target %(target)d)."
                )
                % {"days": days, "target": office.waiting_target_days},
                label, url, _start_of(since + dt.timedelta(days=office.waiting_target_days)),
                f"over_target:{since.isoformat()}",
            ))  # fmt: skip
        changed = row["state_changed_at"]
        if changed < limits["stuck_since"]:
            state_label = State(row["state"]).label
            items.append(WorkItem(
                row["id"], "stuck",
                gettext("In the state “%(state)s” for %(days)d days (target %(target)d).")
                % {"state": state_label, "days": (timezone.now() - changed).days,
                   "target": office.stuck_target_days},
                label, url, changed + dt.timedelta(days=office.stuck_target_days),
                f"stuck:{row['state']}:{timezone.localdate(changed).isoformat()}",
            ))  # fmt: skip
    return items


def followups_due(
    *, user: Any, cases: QuerySet[Case], scope: str, today: dt.date, shared_ids: list[int]
) -> Any:
    """Open follow-ups due by ``today`` on these cases: in the "mine" queue those for the
    user and the team's on the user's cases; in the "team" queue all of them."""
    qs = FollowUp.objects.filter(state=FollowUp.State.OPEN, due_on__lte=today)
    if scope == "team":
        return qs.filter(case__in=cases)
    mine = Q(for_user=user)
    if getattr(user, "team_id", None) is not None:
        mine |= Q(for_team_id=user.team_id, case__in=cases)
    return qs.filter(mine, case__in=_queue_visible(user, shared_ids))


def _followup_items(followups: Any) -> list[WorkItem]:
    from django.urls import reverse
    from django.utils.formats import date_format

    items = []
    for f in followups.only("id", "case_id", "due_on", "reason", "for_team_id"):
        text = gettext("Follow-up due on %(date)s: %(reason)s") % {
            "date": date_format(f.due_on, "SHORT_DATE_FORMAT"),
            "reason": f.reason or "",
        }
        items.append(WorkItem(
            f.case_id, "followup", text, gettext("Do the follow-up"),
            reverse("cases:detail", args=[f.case_id]) + "#followups",
            _start_of(f.due_on), f"followup:{f.pk}",
        ))  # fmt: skip
    return items


def _duplicate_items(cases: QuerySet[Case], user: Any) -> list[WorkItem]:
    """Likely duplicates inside the user's team (the only ones a coordinator may merge): one
    item per pair, on the newer case, pointing at the merge page of the older one."""
    from django.urls import reverse

    if getattr(user, "team_id", None) is None:
        return []
    # One query: the team's open cases sharing a key with a queue case (the queue cases
    # themselves included, marked ``in_queue``).
    queue = cases.filter(team_id=user.team_id)
    match = Q()
    for column in QUEUE_DUPLICATE_KEYS:
        match |= Q(**{f"{column}__in": queue.exclude(**{f"{column}__isnull": True}).values(column)})
    team_open = (
        Case.objects.filter(team_id=user.team_id, erased_at__isnull=True)
        .exclude(state=State.CLOSED)
        .filter(match)
        .annotate(in_queue=Exists(queue.filter(pk=OuterRef("pk"))))
        .values("id", "reference", "created_at", "in_queue", *QUEUE_DUPLICATE_KEYS)
    )
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    others = list(team_open)
    for other in others:
        for column in QUEUE_DUPLICATE_KEYS:
            if other[column]:
                by_key.setdefault((column, other[column]), []).append(other)
    queue_ids = {other["id"] for other in others if other["in_queue"]}
    pairs: dict[tuple[int, int], tuple[dict[str, Any], dict[str, Any]]] = {}
    for group in by_key.values():
        for a in group:
            for b in group:
                if a["id"] < b["id"] and (a["id"] in queue_ids or b["id"] in queue_ids):
                    pairs[(a["id"], b["id"])] = (a, b)
    items = []
    for (older_id, newer_id), (older, newer) in sorted(pairs.items()):
        on = newer if newer_id in queue_ids else older
        other = older if on is newer else newer
        items.append(WorkItem(
            on["id"], "duplicate",
            gettext("Possibly the same child as %(reference)s.")
            % {"reference": other["reference"]},
            gettext("Check and merge"), reverse("cases:merge", args=[older_id]),
            newer["created_at"], f"duplicate:{other['id']}",
        ))  # fmt: skip
    return items


def work_queue(*, user: Any, scope: str = "mine", limit: int = QUEUE_LIMIT) -> dict[str, Any]:
    """What needs the user today: every item of the queue's cases, oldest first, without
    those the user marked seen. Returns ``items`` (up to ``limit``, each with its case
    loaded: reference and name) and ``count`` (all items)."""
    scope = scope if scope in QUEUE_SCOPES else "mine"
    today = timezone.localdate()
    shared_ids = _shared_case_ids(user) if is_coordinator(user) else []
    cases = work_queue_cases(user=user, scope=scope, shared_ids=shared_ids)
    seen: set[tuple[int, str]] = set()
    looked: dict[int, dt.datetime] = {}
    for case_id, key, seen_at in WorkItemSeen.objects.filter(user=user, case__in=cases).values_list(
        "case_id", "key", "seen_at"
    ):
        if key == WorkItemSeen.LOOKED:
            looked[case_id] = seen_at
        else:
            seen.add((case_id, key))
    items = [
        *_waiting_items(cases, today),
        *_followup_items(
            followups_due(user=user, cases=cases, scope=scope, today=today, shared_ids=shared_ids)
        ),
        *_duplicate_items(cases, user),
        *contributed_work_items(cases, user, looked),
    ]
    items = [i for i in items if (i.case_id, i.key) not in seen]
    items.sort(key=lambda i: (i.since, i.case_id, i.kind))
    shown = items[:limit]
    loaded = {
        c.pk: c
        for c in Case.objects.filter(pk__in={i.case_id for i in shown})
        .select_related("coordinator")
        .only(
            "id", "reference", "state", "given_name", "family_name", "erased_at",
            "coordinator", "coordinator__username", "coordinator__first_name",
            "coordinator__last_name",
        )
    }  # fmt: skip
    for item in shown:
        item.case = loaded.get(item.case_id)
    return {"items": [i for i in shown if i.case is not None], "count": len(items), "scope": scope}


def case_followups(*, case: Case) -> list[FollowUp]:
    """The open follow-ups of a case (for the case page), soonest first."""
    return list(
        FollowUp.objects.filter(case=case, state=FollowUp.State.OPEN)
        .select_related("for_user", "for_team")
        .order_by("due_on", "id")
    )


def followup_get_for_user(*, user: Any, pk: int) -> FollowUp:
    """One follow-up on a case the user may see, or 404."""
    followup = (
        FollowUp.objects.filter(pk=pk, case__in=cases_visible_to(user))
        .select_related("case")
        .first()
    )
    if followup is None:
        raise Http404
    return followup


def followup_digest_user_ids(*, today: dt.date) -> set[int]:
    """Active coordinators with a follow-up due (their own, or their team's)."""
    from django.contrib.auth import get_user_model

    due = FollowUp.objects.filter(state=FollowUp.State.OPEN, due_on__lte=today)
    direct = set(
        due.filter(for_user__is_active=True, for_user__isnull=False).values_list(
            "for_user_id", flat=True
        )
    )
    team = set(
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__name=COORDINATOR,
            team_id__in=due.filter(for_team__isnull=False).values("for_team_id"),
        )
        .values_list("pk", flat=True)
    )
    return direct | team


def followup_references_due(*, user: Any, today: dt.date) -> list[str]:
    """The references of the cases with a follow-up due for the user (theirs or their
    team's), for the Monday digest: references only, never the reason."""
    mine = Q(for_user=user)
    if getattr(user, "team_id", None) is not None:
        mine |= Q(for_team_id=user.team_id)
    return sorted(
        set(
            FollowUp.objects.filter(mine, state=FollowUp.State.OPEN, due_on__lte=today)
            .filter(case__in=cases_visible_to(user))
            .values_list("case__reference", flat=True)
        )
    )
