"""Every URL pattern of the project, with every role, against the answer kept in TABLE.

The resolver is walked recursively (the Django admin included). A pattern without a row in
the table fails ``test_every_url_has_a_row``: whoever adds a URL decides here who may open
it. Each role meets objects that belong to it and objects that do not: the case belongs to
the coordinator's own team and not to the other team; the referral goes to the "own" school
and not to the other school or the Kita.

Answers: 200, 403, 404, 405, LOGIN (302 to a login page), REDIRECT (302 elsewhere); a tuple
allows either. POSTs run inside a rolled-back transaction, so every role meets the same world.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.second_factor import log_in

ANON, CO, CX, SO, SX, KI, MG, AD = (
    "anonymous",
    "coordinator_own_team",
    "coordinator_other_team",
    "school_referred",
    "school_other",
    "kita",
    "management",
    "administrator",
)
ROLES = (ANON, CO, CX, SO, SX, KI, MG, AD)
LOGIN, REDIRECT = "login", "redirect"
Outcome = int | str | tuple[int | str, ...]


def answers(default: Outcome, anonymous: Outcome = LOGIN, **by_role: Outcome) -> dict[str, Outcome]:
    """The answer per role: ``default`` for every logged-in role unless named."""
    names = {"co": CO, "cx": CX, "so": SO, "sx": SX, "ki": KI, "mg": MG, "ad": AD}
    table = {role: default for role in ROLES}
    table[ANON] = anonymous
    for short, outcome in by_role.items():
        table[names[short]] = outcome
    return table


@dataclass(frozen=True)
class Row:
    expect: dict[str, Outcome]
    kwargs: Callable[[Any], dict[str, Any]] = field(default=lambda w: {})
    method: str = "get"
    data: Callable[[Any], dict[str, Any]] = field(default=lambda w: {})


CASE = lambda w: {"pk": w.case.pk}  # noqa: E731
REFERRAL = lambda w: {"pk": w.referral.pk}  # noqa: E731


def FOLLOWUP(world: Any) -> dict[str, Any]:
    """A follow-up on the own team's case (made once, outside the rolled-back POSTs)."""
    from django.utils import timezone

    from cases.models import FollowUp

    followup, _new = FollowUp.objects.get_or_create(
        case=world.case,
        defaults={"due_on": timezone.localdate(), "reason": "Rückruf", "for_team": world.case.team},
    )
    return {"pk": world.case.pk, "followup_pk": followup.pk}


SAVED = (200, REDIRECT)  # a form answer: shown again with errors, or done and redirected

# The coordinator's workspace: other roles are refused. A case URL is a 404 for everyone who
# may not see that case (another team, or any other role): the answer never reveals that it
# exists.
COORDINATOR_PAGE = answers(403, co=200, cx=200)
OWN_CASE_PAGE = answers(404, co=200)
OWN_CASE_POST = answers(404, co=SAVED)
ADMIN_ONLY = answers(403, ad=200)
STAFF_PAGE = answers(403, so=200, sx=200, ki=200)
# Answering is for the institution's staff: other roles are refused, other staff do not
# learn that the referral exists.
# Anonymised figures: management, coordinators and administrators; never the institutions.
FIGURES = answers(403, co=200, cx=200, mg=200, ad=200)
REFERRAL_ANSWER = answers(403, so=SAVED, sx=404, ki=404)
OFFER = lambda w: {"pk": w.offer.pk}  # noqa: E731
REGISTRATION = lambda w: {"pk": w.registration.pk}  # noqa: E731
# Answers to a registration: the provider's staff (and the coordinator of the case, who is
# sent back when the provider has a login); other staff and coordinators do not learn that
# it exists; management and administrators are refused.
OFFER_ANSWER = answers(403, co=SAVED, cx=404, so=SAVED, sx=404, ki=404)
# An import of the own team: another team's coordinator does not learn that it exists.
BATCH = lambda w: {"pk": w.batch.pk}  # noqa: E731
IMPORT_PAGE = answers(403, co=200, cx=404, ad=200)
IMPORT_POST = answers(403, co=REDIRECT, cx=404, ad=REDIRECT)

TABLE: dict[str, Row] = {
    # --- coordination -------------------------------------------------------------------
    "home": Row(answers(REDIRECT)),
    "healthz": Row(answers(200, anonymous=200)),
    "login": Row(answers(REDIRECT, anonymous=200)),
    "logout": Row(answers(LOGIN, anonymous=LOGIN), method="post"),
    "set_language": Row(answers(REDIRECT), method="post", data=lambda w: {"language": "en"}),
    # Roles not required to use a second factor may set it up with the password alone; the
    # administrator (required by default) has a device and is verified (tests.second_factor).
    "otp_enrol": Row(answers(REDIRECT)),
    "otp_setup": Row(answers(200, ad=REDIRECT)),
    "otp_verify": Row(answers(REDIRECT, ad=200)),  # no device: sent to the set-up
    "audit_search": Row(ADMIN_ONLY),
    "audit_export": Row(ADMIN_ONLY),
    # --- administration (the administrators' start page, unlocking a locked account) ------
    "administration:start": Row(ADMIN_ONLY),
    "administration:unlock": Row(
        answers(403, ad=REDIRECT), method="post", data=lambda w: {"username": "nobody"}
    ),
    "figures": Row(FIGURES),
    "figures_export": Row(FIGURES),
    "figures_print": Row(FIGURES),
    # --- cases --------------------------------------------------------------------------
    "cases:dashboard": Row(COORDINATOR_PAGE),
    "cases:list": Row(COORDINATOR_PAGE),
    "cases:register": Row(COORDINATOR_PAGE),
    "cases:bulk_assign": Row(answers(403, co=REDIRECT, cx=REDIRECT), method="post"),
    "cases:detail": Row(OWN_CASE_PAGE, CASE),
    "cases:edit": Row(OWN_CASE_PAGE, CASE),
    "cases:transition": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:assign": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:transfer": Row(OWN_CASE_PAGE, CASE),  # the form on a page of its own
    "cases:share": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:unshare": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:link_sibling": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:guardian_add": Row(OWN_CASE_PAGE, CASE),
    "cases:guardian_edit": Row(
        OWN_CASE_PAGE, lambda w: {"pk": w.case.pk, "guardian_pk": w.guardian.pk}
    ),
    "cases:access_report": Row(OWN_CASE_PAGE, CASE),
    "cases:access_report_json": Row(OWN_CASE_PAGE, CASE),
    "cases:retention": Row(ADMIN_ONLY),
    "cases:retention_offer": Row(answers(403, ad=REDIRECT), method="post"),
    "cases:retention_decision": Row(answers(403, ad=REDIRECT), method="post"),
    "cases:duplicates": Row(ADMIN_ONLY),
    "cases:merge": Row(OWN_CASE_PAGE, CASE),
    # The working day (issue 17): POST-only actions on a case of the coordinator's team.
    "cases:work_item_seen": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:followup_add": Row(OWN_CASE_POST, CASE, method="post"),
    "cases:followup_close": Row(OWN_CASE_POST, FOLLOWUP, method="post"),
    "cases:followup_postpone": Row(OWN_CASE_POST, FOLLOWUP, method="post"),
    "cases:journal_add": Row(OWN_CASE_POST, CASE, method="post"),
    # --- referrals ----------------------------------------------------------------------
    "referrals:inbox": Row(STAFF_PAGE),
    "referrals:places": Row(STAFF_PAGE),
    "referrals:create": Row(answers(404, co=200, cx=404), lambda w: {"case_pk": w.ready_case.pk}),
    "referrals:detail": Row(answers(404, co=200, so=200), REFERRAL),
    "referrals:accept": Row(REFERRAL_ANSWER, REFERRAL, method="post"),
    "referrals:decline": Row(REFERRAL_ANSWER, REFERRAL, method="post"),
    "referrals:enrol": Row(REFERRAL_ANSWER, REFERRAL, method="post"),
    "referrals:no_show": Row(REFERRAL_ANSWER, REFERRAL, method="post"),
    "referrals:withdraw": Row(answers(404, co=200), REFERRAL),
    # --- offers ---------------------------------------------------------------------------
    # The catalogue: coordinators and administrators keep every offer; institution staff
    # their providers' offers (the school's user works for the world's provider).
    "offers:catalogue": Row(answers(200, mg=403)),
    "offers:create": Row(answers(403, co=200, cx=200, so=200, ad=200)),
    "offers:edit": Row(answers(200, sx=404, ki=404, mg=403), OFFER),
    "offers:places": Row(
        answers(REDIRECT, sx=404, ki=404, mg=403),
        OFFER,
        method="post",
        data=lambda w: {"free_places": "4"},
    ),
    "offers:inbox": Row(STAFF_PAGE),
    "offers:register": Row(answers(404, co=200), lambda w: {"case_pk": w.case.pk}),
    "offers:registration": Row(answers(404, co=200, so=200), REGISTRATION),
    "offers:confirm": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    "offers:decline": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    "offers:start": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    "offers:end": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    "offers:drop_out": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    "offers:withdraw": Row(OFFER_ANSWER, REGISTRATION, method="post"),
    # The public page: everyone, logged in or not.
    "angebote:list": Row(answers(200, anonymous=200)),
    "angebote:flyer": Row(answers(200, anonymous=200), lambda w: {"district_pk": w.district.pk}),
    # --- transfer: imports (coordinators into their team, administrators) and the export ---
    "transfer:index": Row(answers(403, co=200, cx=200, ad=200)),
    "transfer:upload": Row(answers(403, co=200, cx=200, ad=200), method="post"),
    "transfer:detail": Row(IMPORT_PAGE, BATCH),
    "transfer:mapping": Row(IMPORT_PAGE, BATCH),
    "transfer:confirm": Row(IMPORT_POST, BATCH, method="post"),
    "transfer:discard": Row(IMPORT_POST, BATCH, method="post"),
    "transfer:export": Row(answers(403, co=200, ad=200)),  # the own team's lead, administrators
}

# --- the Django admin: staff only (everyone else is sent to the admin login) -----------------

ADMIN_SITE: dict[str, Outcome] = {
    "admin:index": 200,
    "admin:login": REDIRECT,
    "admin:logout": LOGIN,  # logged out, to the login page
    "admin:password_change": 200,
    "admin:password_change_done": 200,
    "admin:jsi18n": 200,
    "admin:autocomplete": 403,  # without its query parameters
    "admin:view_on_site": 404,  # no model of ours has a public page
    "admin:app_list": 200,
    "admin/(?P<url>.*)$": 404,
    "admin:auth_user_password_change": 200,  # set a user's password
    "admin:otp_totp_totpdevice_config": 403,  # a device's secret: hidden from administrators
    "admin:otp_totp_totpdevice_qrcode": 403,
}
# Per registered model: what the administrator gets on (changelist, add, change, delete,
# history). Read-only models refuse add and delete; their change page is a read-only view.
FULL = (200, 200, 200, 200, 200)
READ_ONLY = (200, 403, 200, 403, 200)
ADMIN_MODELS: dict[str, tuple[Outcome, Outcome, Outcome, Outcome, Outcome]] = {
    "auth.group": FULL,
    "axes.accessattempt": (200, 403, 200, 200, 200),
    "axes.accesslog": (200, 403, 200, 200, 200),
    "axes.accessfailurelog": (200, 403, 200, 200, 200),
    "otp_totp.totpdevice": FULL,
    "coordination.user": FULL,
    "coordination.team": FULL,
    "coordination.district": FULL,
    "coordination.officesettings": (200, 403, 200, 403, 200),
    "coordination.auditentry": READ_ONLY,
    "coordination.outboxmessage": READ_ONLY,
    "cases.case": READ_ONLY,
    "cases.caseevent": READ_ONLY,
    "referrals.institution": FULL,
    "referrals.referral": READ_ONLY,
    "offers.provider": FULL,
    "offers.offer": READ_ONLY,
    "referrals.closingperiod": FULL,
}
ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")


def _admin_rows() -> dict[str, Row]:
    from django.apps import apps

    rows: dict[str, Row] = {}
    for name, outcome in ADMIN_SITE.items():
        # The admin login is open; its logout sends non-staff back to the admin index.
        anon = {"admin:login": 200, "admin:logout": REDIRECT}.get(name, LOGIN)
        others = anon
        method = "post" if name == "admin:logout" else "get"
        rows[name] = Row(
            answers(others, anonymous=anon, ad=outcome), _admin_site_kwargs(name), method=method
        )
    for label, outcomes in ADMIN_MODELS.items():
        model = apps.get_model(label)
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for view, outcome in zip(ADMIN_VIEWS, outcomes, strict=True):
            kwargs = _object_kwargs(model) if view in {"change", "delete", "history"} else None
            rows[f"{prefix}_{view}"] = Row(answers(LOGIN, ad=outcome), kwargs or (lambda w: {}))
        # The bare object URL redirects to the change page.
        route = f"admin/{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/"
        rows[route] = Row(answers(LOGIN, ad=REDIRECT), _object_kwargs(model))
    return rows


def _object_kwargs(model: Any) -> Callable[[Any], dict[str, Any]]:
    def kwargs(world: Any) -> dict[str, Any]:
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the world has no {model._meta.label}: add one in world()"
        return {"object_id": obj.pk}

    return kwargs


def _admin_site_kwargs(name: str) -> Callable[[Any], dict[str, Any]]:
    if name == "admin:auth_user_password_change":
        return lambda w: {"id": w.users[CO].pk}
    if name.startswith("admin:otp_totp_totpdevice_"):
        return lambda w: {"pk": w.device.pk}
    if name == "admin:app_list":
        return lambda w: {"app_label": "coordination"}
    if name == "admin:view_on_site":
        return lambda w: {
            "content_type_id": ContentType.objects.get_for_model(w.team).pk,
            "object_id": w.team.pk,
        }
    if name == "admin/(?P<url>.*)$":
        return lambda w: {"url": "no-such-page/"}
    return lambda w: {}


TABLE.update(_admin_rows())


# --- walking the resolver ------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # the namespaced name, or the route when the pattern has no name
    route: str
    name: str | None


def walk(patterns: Any = None, prefix: str = "", namespace: str = "") -> Iterator[Pattern]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Pattern(key=name or route, route=route, name=name)


PATTERNS = {p.key: p for p in walk()}


def test_every_url_has_a_row() -> None:
    missing = sorted(set(PATTERNS) - set(TABLE))
    assert not missing, "URLs without a row in tests/test_url_auth.py TABLE: " + ", ".join(missing)


def test_no_row_for_a_url_that_is_gone() -> None:
    stale = sorted(set(TABLE) - set(PATTERNS))
    assert not stale, "rows for URLs that no longer exist: " + ", ".join(stale)


def test_every_row_names_every_role() -> None:
    for key, row in TABLE.items():
        assert set(row.expect) == set(ROLES), key


# --- the world -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """One world for the whole module (rolled back at its end); each test nests inside."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def _build_world() -> SimpleNamespace:
    from tests.factories import build_role_world

    world = build_role_world()
    world.sessions = {}
    for role, user in world.users.items():
        client = Client()
        log_in(client, user)
        world.sessions[role] = client.cookies
    return world


def _url(pattern: Pattern, kwargs: dict[str, Any]) -> str:
    if pattern.name:
        return reverse(pattern.name, kwargs=kwargs or None)
    if pattern.route.endswith("(?P<url>.*)$"):
        return "/" + pattern.route.replace("(?P<url>.*)$", kwargs["url"])
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), pattern.route)


def _outcome(response: Any) -> Outcome:
    if response.status_code in {301, 302}:
        location = response["Location"]
        login_pages = (reverse("login"), reverse("admin:login"))
        return LOGIN if location.split("?")[0].endswith(login_pages) else REDIRECT
    return int(response.status_code)


@pytest.mark.parametrize("key", sorted(TABLE), ids=str)
def test_url_answers_every_role_as_the_table_says(key: str, world, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from coordination import health

    monkeypatch.setattr(health, "broker_ok", lambda timeout=2.0: True)
    if key not in PATTERNS:
        pytest.fail(f"{key} is in the table but not a URL (see test_no_row_for_a_url_that_is_gone)")
    row = TABLE[key]
    url = _url(PATTERNS[key], row.kwargs(world))
    wrong = []
    for role in ROLES:
        client = Client(raise_request_exception=False)
        if role != ANON:  # logged in once in world(): the session lives in its transaction
            client.cookies = world.sessions[role].__class__(world.sessions[role])
        with transaction.atomic():
            response = getattr(client, row.method)(url, row.data(world))
            transaction.set_rollback(True)
        got, want = _outcome(response), row.expect[role]
        if got != want and not (isinstance(want, tuple) and got in want):
            where = f" ({response['Location']})" if response.status_code in {301, 302} else ""
            wrong.append(f"{role}: {row.method.upper()} {url} -> {got}{where}, expected {want}")
    assert not wrong, "\n".join(wrong)
