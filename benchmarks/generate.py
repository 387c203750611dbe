"""A realistic data set, fast: encrypted through the model fields, written with COPY.

Shape (per ``size`` cases; the per-team and per-institution load stays the same at every
size, as in a state-wide installation that adds cities, not bigger teams):

- teams of about 500 cases with 4 coordinators each, districts (one per 200 cases; a team's
  cases live in a region of ``DISTRICTS_PER_TEAM`` neighbouring districts, as a city's team
  works in its own city),
  institutions (one per 25 cases: Kitas, schools of every kind, vocational schools) with
  their free places and one staff member each, management and an administrator;
- cases spread over three years, in every state (recent ones open, old ones placed or
  closed), siblings in families (about 1.6 children) with one or two guardians;
- the case history (``CaseEvent``: creation, every transition, edits, assignments),
  referrals in every state (at most one open per case), the reminders already sent for them
  (``ReminderLog``), cases shared with another team's coordinator, and the audit log with
  an intact hash chain.

Every personal value goes through the model field's ``get_db_prep_save`` (really AES-GCM
encrypted) and every case's blind indexes come from ``Case.refresh_blind_indexes()``. Rows are
written with PostgreSQL ``COPY`` (``executemany`` on other databases, for the smoke test), in
chunks that worker processes build in parallel.

At rest nothing is due for the reminder sweep: every open referral already has a reminder row
for each level whose deadline has passed (with a day of margin); the sweep benchmark makes
1 % due on the working copy.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction

GENERATOR_VERSION = "5"
BENCH_PASSWORD = "bench-password-not-secret"  # noqa: S105 - public bench-only password
CASES_PER_TEAM = 500
COORDINATORS_PER_TEAM = 4
CASES_PER_DISTRICT = 200
DISTRICTS_PER_TEAM = 10
CASES_PER_INSTITUTION = 25
CHUNK = 2000
# The bench staff user's Grundschule gets a share of the referrals to grades 1-4 that gives it
# about 5 open and 30 closed referrals at every size (divided by the number of cases).
BENCH_GROUPS = frozenset({"g01", "g02", "g03", "g04"})
BENCH_OPEN = 600.0
BENCH_CLOSED = 120.0
UTC = dt.UTC

# --- name and value pools ---------------------------------------------------------------

GIVEN = (
    "Oleksandr Olena Dmytro Iryna Andrii Kateryna Maksym Sofiia Artem Anastasiia Bohdan "
    "Daryna Mykola Yuliia Taras Viktoriia Mohammed Ahmad Fatima Aisha Omar Yousef Lina Rania "
    "Khaled Amira Hassan Layla Ibrahim Noor Zainab Ali Farid Mariam Habib Shabnam Wahid "
    "Parwana Samir Zahra Emre Elif Mehmet Zeynep Can Ayşe Yusuf Merve Andrei Ioana Mihai "
    "Elena Georgi Maria Ivan Desislava Yonas Selam Abdi Hodan Filmon Senait Rojin Dilan Hawar "
    "Shilan Luca Amina Nikola Jovana Artur Milena Karim Salma Dawit Hana Aleksandr Polina"
).split()
_UA_STEMS = (
    "Koval Shevch Bondar Tkach Kravets Melnyk Lysen Hryts Moroz Savch Rudn Petr Pavl Boyk "
    "Marchen Kuzm Kovalch Oliin Shapov Ponomar Tkachuk Levch Sydor Yurch Fedor Vasyl Ostap "
    "Stepan Dorosh Hnat Prokop Semen Yakym Zakhar Demch Kyryl Luk Mazur Nesterch Romanch"
).split()
_UA_SUFFIXES = ["enko", "uk", "chuk", "ko", "ovych", "skyi", "iak", "ets"]
_AR_STEMS = (
    "Hassan Khatib Masri Ahmad Haddad Najjar Saleh Hamdan Abdullah Rahman Zein Darwish Shami "
    "Halabi Qasim Omari Tamimi Nasser Jaber Sabbagh Kurdi Hamwi Attar Homsi Sharif Bakri "
    "Mansour Yassin Sayed Kanaan Ibrahim Hijazi Farouk Salim Aziz Rashid Hariri Khoury Dabbagh"
).split()
_AR_PREFIXES = ["Al-", "", "El-", "Abu "]
_OTHER = (
    "Ahmadi Rahimi Karimi Hosseini Mohammadi Sultani Noori Popal Stanekzai Wardak Sadat Azizi "
    "Jalali Safi Hakimi Amiri Nazari Rezaei Yousufzai Barakzai Yılmaz Kaya Demir Şahin Çelik "
    "Yıldız Öztürk Aydın Arslan Doğan Kılıç Aslan Polat Koç Kurt Özdemir Popescu Ionescu Popa "
    "Stan Dumitru Stoica Gheorghe Matei Rusu Munteanu Petrov Ivanova Georgiev Dimitrov Tesfaye "
    "Haile Gebremedhin Tekle Abraha Mohamud Farah Warsame Hussein Jama Barzani Zebari Talabani "
    "Rostami Kaplan Öcalan Hoxha Krasniqi Berisha Gashi Shala Morina"
).split()
FAMILY = sorted(
    {s + x for s in _UA_STEMS for x in _UA_SUFFIXES}
    | {p + s for s in _AR_STEMS for p in _AR_PREFIXES}
    | set(_OTHER)
)
NATIONALITIES = [
    ("ukrainisch", ["uk", "ru"]), ("syrisch", ["ar", "ku"]), ("afghanisch", ["fa", "ps"]),
    ("türkisch", ["tr", "ku"]), ("irakisch", ["ar", "ku"]), ("rumänisch", ["ro"]),
    ("bulgarisch", ["bg", "tr"]), ("eritreisch", ["ti", "ar"]), ("somalisch", ["so"]),
    ("kosovarisch", ["sq", "sr"]), ("moldauisch", ["ro", "ru"]), ("iranisch", ["fa"]),
]  # fmt: skip
STREETS = (
    "Hauptstraße,Bahnhofstraße,Schulstraße,Gartenstraße,Moselweg,Rheinstraße,Kirchgasse,"
    "Lindenallee,Am Markt,Friedrich-Ebert-Ring,Löhrstraße,Hohenzollernstraße,Mainzer Straße,"
    "Trierer Straße,Andernacher Straße,Beatusstraße,Südallee,Kurfürstenstraße,Am Wasserturm"
).split(",")
HEALTH = [
    "Asthma, Spray im Ranzen", "Brille, Sehtest ausstehend", "Allergie gegen Nüsse",
    "Impfstatus unklar, Termin Gesundheitsamt", "Hörgerät links", "Diabetes Typ 1",
]  # fmt: skip
SUPPORT = [
    "Sprachförderung intensiv", "Traumapädagogische Begleitung empfohlen",
    "Förderbedarf Lernen wird geprüft", "Schulbegleitung beantragt",
]  # fmt: skip
NOTES = [
    "Familie wohnt vorübergehend in der Gemeinschaftsunterkunft.",
    "Mutter erreichbar vormittags, Dolmetschung über Sprachmittlerpool.",
    "Geschwisterkind bereits in der Kita Sonnenblume.",
    "Zeugnisse aus dem Herkunftsland liegen in Kopie vor.",
    "Vater arbeitet im Schichtdienst, Termine am Nachmittag.",
    "Umzug in anderen Stadtteil angekündigt.",
]  # fmt: skip
REFERRAL_MESSAGES = [
    "Bitte um Aufnahme in die Intensivklasse; Unterlagen folgen per Post.",
    "Kind spricht etwas Englisch, keine Deutschkenntnisse.",
    "Familie wohnt im Einzugsgebiet, Geschwister an Ihrer Schule.",
    "Aufnahme möglichst zum Monatsanfang.",
]  # fmt: skip
EVENT_COMMENTS = [
    "Gespräch mit Mutter und Sprachmittlerin geführt.",
    "Unterlagen vollständig.",
    "Familie bittet um Schule in der Nähe der Unterkunft.",
    "Rückmeldung der Schule abgewartet.",
]  # fmt: skip

KINDS = [  # kind, weight, groups offered
    ("kita", 45, ["kita_u3", "kita_3"]),
    ("grundschule", 30, ["g01", "g02", "g03", "g04"]),
    ("realschule_plus", 8, ["g05", "g06", "g07", "g08", "g09", "g10"]),
    ("igs", 5, ["g05", "g06", "g07", "g08", "g09", "g10"]),
    ("gymnasium", 6, ["g05", "g06", "g07", "g08", "g09", "g10", "g11", "g12", "g13"]),
    ("foerderschule", 3, ["g01", "g03", "g05", "g07", "g09"]),
    ("bbs", 3, ["bvj", "bbs"]),
]
KIND_LABEL = {
    "kita": "Kita", "grundschule": "Grundschule", "realschule_plus": "Realschule plus",
    "igs": "IGS", "gymnasium": "Gymnasium", "foerderschule": "Förderschule",
    "bbs": "Berufsbildende Schule",
}  # fmt: skip


@dataclass
class Plan:
    """Everything a chunk worker needs (picklable)."""

    size: int
    seed: int
    now: dt.datetime
    team_ids: list[int]
    coordinators_by_team: dict[int, list[int]]
    district_ids: list[int]
    institutions_by_group: dict[str, list[int]]
    bench_institution: int  # the bench staff user's Grundschule
    work_case_perm_id: int
    holidays: frozenset[dt.date]
    thresholds: dict[str, int]
    prefix: str
    # the audit log: who is who (user id -> (username, roles)), each institution's staff user,
    # the management and administrator users, the active audit key and the spool directory
    users: dict[int, tuple[str, str]] = field(default_factory=dict)
    staff_by_institution: dict[int, int] = field(default_factory=dict)
    management_id: int = 0
    admin_id: int = 0
    audit_dir: str = ""
    team_position: dict[int, int] = field(default_factory=dict)


@dataclass
class Generated:
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    jobs: int = 1
    phases: dict[str, float] = field(default_factory=dict)


# --- writing rows ------------------------------------------------------------------------


def write_rows(model: type[models.Model], columns: Sequence[str], rows: list[Sequence[Any]]) -> int:
    """COPY rows into the model's table (executemany on databases without COPY)."""
    if not rows:
        return 0
    table = model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            # Encrypted values are bytes: psycopg dumps them as bytea, escaped for COPY's text
            # format (``\\x...``), exactly as the column reads them back.
            with raw.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})",
                rows,
            )
    return len(rows)


def _identity(value: Any) -> Any:
    return value


class RowMaker:
    """Turns attribute values into database values through each model field.

    Encrypted and JSON fields always go through ``get_db_prep_save`` (so values are really
    encrypted, exactly as a ``save()`` would store them). On PostgreSQL, plain columns (ids,
    texts, dates, booleans) are handed to COPY as they are: psycopg adapts them the same way,
    and skipping Django's per-value preparation there halves the generation time.
    """

    def __init__(self, model: type[models.Model], names: Sequence[str]) -> None:
        from coordination.fields import EncryptedField

        self.fields = [model._meta.get_field(n) for n in names]
        self.columns = [f.column for f in self.fields]  # type: ignore[union-attr]
        self.attnames = [f.attname for f in self.fields]  # type: ignore[union-attr]
        fast = connection.vendor == "postgresql"
        self.prep = [
            (
                _identity
                if fast and not isinstance(f, EncryptedField | models.JSONField)
                else partial(f.get_db_prep_save, connection=connection)  # type: ignore[union-attr]
            )
            for f in self.fields
        ]

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(prep(v) for prep, v in zip(self.prep, values, strict=True))

    def from_instance(self, obj: models.Model) -> tuple[Any, ...]:
        return tuple(
            prep(getattr(obj, name)) for prep, name in zip(self.prep, self.attnames, strict=True)
        )


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


# --- calendar ----------------------------------------------------------------------------


def working_days_between(start: dt.date, end: dt.date, holidays: frozenset[dt.date]) -> int:
    """Working days after ``start`` up to and including ``end`` (Mon-Fri, no holidays)."""
    if end <= start:
        return 0
    days = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            days += 1
    return days


def rp_holidays(years: Iterable[int]) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.Germany(subdiv="RP", years=list(years)).keys())


# --- reference data (main process, ORM) --------------------------------------------------


def _scaled(size: int, per: int, minimum: int) -> int:
    return max(minimum, math.ceil(size / per))


def create_reference_data(size: int, seed: int) -> Plan:
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission

    from cases.models import CaseReferenceCounter
    from coordination.models import District, OfficeSettings, Team, User
    from coordination.roles import (
        ADMINISTRATOR,
        COORDINATOR,
        INSTITUTION_STAFF,
        MANAGEMENT,
        ensure_role_groups,
    )
    from referrals.models import Institution, InstitutionUserObjectPermission, Places

    rng = random.Random(seed)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    ensure_role_groups()
    roles_wanted = [COORDINATOR, INSTITUTION_STAFF, MANAGEMENT, ADMINISTRATOR]
    groups = {g.name: g for g in Group.objects.filter(name__in=roles_wanted)}
    office = OfficeSettings.current()
    password = make_password(BENCH_PASSWORD)

    n_districts = _scaled(size, CASES_PER_DISTRICT, 19)
    districts = District.objects.bulk_create(
        [District(name=f"Bezirk {i:05d}") for i in range(1, n_districts + 1)], batch_size=2000
    )
    through = District.neighbours.through
    links = []
    for i, d in enumerate(districts):
        other = districts[(i + 1) % len(districts)]
        links += [
            through(from_district_id=d.pk, to_district_id=other.pk),
            through(from_district_id=other.pk, to_district_id=d.pk),
        ]
    through.objects.bulk_create(links, batch_size=5000, ignore_conflicts=True)

    n_teams = _scaled(size, CASES_PER_TEAM, 2)
    teams = Team.objects.bulk_create(
        [Team(name=f"Team {i:04d}", mailbox=f"team{i:04d}@bench.example")
         for i in range(1, n_teams + 1)],
        batch_size=2000,
    )  # fmt: skip

    users: list[User] = []
    roles: list[tuple[int, str]] = []  # (index in users, role)

    def add_user(username: str, role: str, **extra: Any) -> int:
        users.append(
            User(username=username, password=password, email=f"{username}@bench.example",
                 first_name=username.split("-")[0].title(), last_name=username, **extra)
        )  # fmt: skip
        roles.append((len(users) - 1, role))
        return len(users) - 1

    coordinator_slots: dict[int, list[int]] = {}
    for t_index, team in enumerate(teams):
        for c in range(COORDINATORS_PER_TEAM):
            name = "bench-coordinator" if (t_index, c) == (0, 0) else f"coord-{t_index:04d}-{c}"
            coordinator_slots.setdefault(team.pk, []).append(
                add_user(name, COORDINATOR, team_id=team.pk)
            )
    add_user("bench-management", MANAGEMENT)
    add_user("bench-admin", ADMINISTRATOR, is_staff=True, is_superuser=True)

    n_institutions = _scaled(size, CASES_PER_INSTITUTION, len(KINDS) * 2)
    kinds = [k for k, w, _g in KINDS for _ in range(w)]
    institutions = []
    for i in range(n_institutions):
        # the first institution is a Grundschule: its staff is the bench's staff user
        # every kind at least once; the first is a Grundschule (the bench staff user's)
        kind = KINDS[(i + 1) % len(KINDS)][0] if i < len(KINDS) else rng.choice(kinds)
        district = districts[rng.randrange(len(districts))]
        institutions.append(
            Institution(
                name=f"{KIND_LABEL[kind]} {district.name[6:]}-{i:05d}",
                kind=kind,
                district_id=district.pk,
                address=f"{rng.choice(STREETS)} {rng.randint(1, 120)}, 56068 Koblenz",
                email=f"inst{i:05d}@schulen.bench.example",
                has_intensive_course=rng.random() < 0.4,
                has_bvj=kind == "bbs",
            )
        )
    institutions = Institution.objects.bulk_create(institutions, batch_size=2000)
    offered = {k: g for k, _w, g in KINDS}
    places = []
    by_group: dict[str, list[int]] = {}
    for inst in institutions:
        for group in offered[inst.kind]:
            by_group.setdefault(group, []).append(inst.pk)
            places.append(
                Places(institution_id=inst.pk, group=group, free=rng.choice([0, 0, 1, 1, 2, 3]),
                       updated_at=now - dt.timedelta(days=rng.randint(0, 40)))
            )  # fmt: skip
    Places.objects.bulk_create(places, batch_size=5000)

    staff_slots = [
        add_user("bench-staff" if i == 0 else f"staff-{i:05d}", INSTITUTION_STAFF)
        for i in range(len(institutions))
    ]
    created_users = User.objects.bulk_create(users, batch_size=2000)
    membership = User.groups.through
    membership.objects.bulk_create(
        [membership(user_id=created_users[i].pk, group_id=groups[role].pk) for i, role in roles],
        batch_size=5000,
    )
    staff_perm = Permission.objects.get(
        codename="staff_institution", content_type__app_label="referrals"
    )
    InstitutionUserObjectPermission.objects.bulk_create(
        [
            InstitutionUserObjectPermission(
                user_id=created_users[slot].pk, permission=staff_perm, content_object=inst
            )
            for slot, inst in zip(staff_slots, institutions, strict=True)
        ],
        batch_size=5000,
    )
    for team in teams:
        team.lead_id = created_users[coordinator_slots[team.pk][0]].pk
    Team.objects.bulk_update(teams, ["lead"], batch_size=2000)

    CaseReferenceCounter.objects.update_or_create(year=now.year, defaults={"last": size})
    work_case = Permission.objects.get(codename="work_case", content_type__app_label="cases")
    role_of = {created_users[i].pk: role for i, role in roles}
    return Plan(
        size=size,
        seed=seed,
        now=now,
        team_ids=[t.pk for t in teams],
        coordinators_by_team={
            team_id: [created_users[s].pk for s in slots]
            for team_id, slots in coordinator_slots.items()
        },
        district_ids=[d.pk for d in districts],
        institutions_by_group=by_group,
        bench_institution=institutions[0].pk,
        work_case_perm_id=work_case.pk,
        holidays=rp_holidays(range(now.year - 4, now.year + 2)),
        thresholds={
            "r1": office.reminder_1_days,
            "r2": office.reminder_2_days,
            "esc": office.escalation_days,
            "exp": office.expiry_days,
            "e1": office.enrolment_reminder_days,
            "e2": office.enrolment_notice_days,
        },
        prefix=settings.CASE_REFERENCE_PREFIX,
        users={u.pk: (u.username, role_of.get(u.pk, "")) for u in created_users},
        staff_by_institution={
            inst.pk: created_users[slot].pk
            for slot, inst in zip(staff_slots, institutions, strict=True)
        },
        management_id=next(u.pk for u in created_users if u.username == "bench-management"),
        admin_id=next(u.pk for u in created_users if u.username == "bench-admin"),
    )


# --- one chunk of cases (worker process) ---------------------------------------------------

STATE_WEIGHTS = {  # by age of the case: recent, this year, older
    "recent": [("intake", 15), ("clarification", 25), ("ready", 20), ("referred", 25),
               ("on_hold", 5), ("placed", 8), ("closed", 2)],
    "year": [("intake", 2), ("clarification", 6), ("ready", 8), ("referred", 6),
             ("on_hold", 5), ("placed", 50), ("closed", 23)],
    "old": [("clarification", 1), ("ready", 2), ("referred", 1), ("on_hold", 3),
            ("placed", 30), ("closed", 63)],
}  # fmt: skip
PATHS = {
    "intake": [],
    "clarification": [("start_clarification", "intake", "clarification")],
    "ready": [("start_clarification", "intake", "clarification"),
              ("mark_ready", "clarification", "ready")],
    "on_hold": [("start_clarification", "intake", "clarification"),
                ("hold", "clarification", "on_hold")],
}  # fmt: skip
PATHS["referred"] = [*PATHS["ready"], ("refer", "ready", "referred")]
PATHS["placed"] = [*PATHS["referred"], ("place", "referred", "placed")]
CLOSED_STATES = ("declined", "expired", "withdrawn", "no_show")


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    total = sum(w for _s, w in table)
    pick = rng.uniform(0, total)
    for state, weight in table:
        pick -= weight
        if pick <= 0:
            return state
    return table[-1][0]


def _group_for_age(rng: random.Random, age: int) -> tuple[str, str]:
    if age < 3:
        return "kita", "kita_u3"
    if age < 6:
        return "kita", "kita_3"
    if age < 16:
        return "school", f"g{min(age - 5, 10):02d}"
    if rng.random() < 0.2:
        return "school", f"g{rng.randint(11, 13):02d}"
    return "vocational", "bvj" if rng.random() < 0.7 else "bbs"


class ChunkWriter:
    """Collects the rows of one chunk per table and writes them in one transaction."""

    def __init__(self) -> None:
        from cases.models import Case, CaseEvent, CaseUserObjectPermission, Family, Guardian
        from referrals.models import Referral, ReminderLog

        case_fields = [
            f.name for f in Case._meta.concrete_fields if f.name not in {"id"}
        ]  # every column, through its field
        self.case = RowMaker(Case, ["id", *case_fields])
        self.family = RowMaker(Family, ["id", "created_at"])
        self.guardian = RowMaker(Guardian, ["family", "relation", "name", "phone", "email",
                                            "preferred_language", "is_contact_person"])  # fmt: skip
        self.event = RowMaker(CaseEvent, ["case", "at", "actor", "kind", "transition",
                                          "from_state", "to_state", "reason", "comment",
                                          "fields"])  # fmt: skip
        self.referral = RowMaker(Referral, [
            "id", "case", "institution", "group", "state", "created_by", "created_at",
            "waitlist", "message", "answered_at", "answered_by", "decline_reason",
            "answer_comment", "start_date", "enrolled_on", "closed_at", "place_reserved",
            "reminder_level",
        ])  # fmt: skip
        reminder_fields = ["referral", "level", "recipient", "created_at", "sent_at", "outcome",
                           "attempts", "error"]  # fmt: skip
        self.reminder_queued_at = _has_field(ReminderLog, "queued_at")
        if self.reminder_queued_at:
            reminder_fields.append("queued_at")
        self.reminder = RowMaker(ReminderLog, reminder_fields)
        self.share = RowMaker(CaseUserObjectPermission, ["permission", "user", "content_object"])
        self.case_fields = case_fields
        self.models = {
            "family": Family, "case": Case, "guardian": Guardian, "event": CaseEvent,
            "referral": Referral, "reminder": ReminderLog, "share": CaseUserObjectPermission,
        }  # fmt: skip
        self.rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in self.models}

    def flush(self) -> dict[str, int]:
        counts = {}
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Bench data only: a crash loses the chunk, never consistency. Saves a WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO off")
            for name in ("family", "case", "guardian", "event", "referral", "reminder", "share"):
                maker: RowMaker = getattr(self, name)
                counts[name] = write_rows(self.models[name], maker.columns, self.rows[name])
        for rows in self.rows.values():
            rows.clear()
        return counts


@dataclass
class CaseReferrals:
    """The referrals of one case and the reminders already sent for them."""

    out: ChunkWriter
    plan: Plan
    rng: random.Random
    case_id: int
    group: str
    coordinator_id: int | None
    referrals: list[tuple[Any, ...]] = field(default_factory=list)
    reminders: list[tuple[Any, ...]] = field(default_factory=list)
    # for the audit log: (id, institution, state, created, answered, closed)
    lives: list[tuple[Any, ...]] = field(default_factory=list)

    def add(
        self,
        state: str,
        at: dt.datetime,
        answered: dt.datetime | None = None,
        closed: dt.datetime | None = None,
        start_date: dt.date | None = None,
        enrolled: dt.date | None = None,
    ) -> None:
        plan, rng, out = self.plan, self.rng, self.out
        ref_id = self.case_id * 4 + len(self.referrals)
        institutions = plan.institutions_by_group[self.group]
        institution = institutions[rng.randrange(len(institutions))]
        if self.group in BENCH_GROUPS and rng.random() < min(
            1.0, (BENCH_OPEN if state in ("pending", "accepted") else BENCH_CLOSED) / plan.size
        ):
            # The bench staff user's inbox holds about as many referrals at every size.
            institution = plan.bench_institution
        sent_levels = _levels_sent(plan, state, at, start_date, plan.now.date())
        self.lives.append((ref_id, institution, state, at, answered, closed))
        self.referrals.append(out.referral.row([
            ref_id, self.case_id, institution, self.group,
            state, self.coordinator_id, at, rng.random() < 0.15, rng.choice(REFERRAL_MESSAGES),
            answered, None,
            rng.choice(["no_place", "wrong_type", "catchment"]) if state == "declined" else "",
            "Wir melden uns zum Starttermin." if answered and rng.random() < 0.3 else "",
            start_date, enrolled, closed, state == "accepted",
            sent_levels[-1] if sent_levels else "",
        ]))  # fmt: skip
        for level in sent_levels:
            sent = at + dt.timedelta(days=plan.thresholds.get(level, 1))
            sent = min(sent, plan.now - dt.timedelta(minutes=5))
            recipient = "institution" if level in ("r1", "e1") else "institution,coordinator"
            values = [ref_id, level, recipient, sent, sent, "sent", 1, ""]
            if out.reminder_queued_at:
                values.append(sent)
            self.reminders.append(out.reminder.row(values))


def generate_chunk(plan: Plan, start: int, stop: int) -> dict[str, int]:
    """Build and write cases ``start`` .. ``stop - 1`` with everything that hangs on them."""
    from cases.models import Case

    rng = random.Random(plan.seed * 1_000_003 + start)
    out = ChunkWriter()
    spool = AuditSpool(plan) if plan.audit_dir else None
    audit_rng = random.Random(plan.seed * 1_000_033 + start)
    now, today = plan.now, plan.now.date()
    span = dt.timedelta(days=3 * 365)
    family_id = 0
    family_team = 0
    for case_id in range(start, stop):
        created = now - span * (1 - (case_id - 1) / plan.size) + dt.timedelta(hours=8)
        created = min(created, now - dt.timedelta(hours=1))
        age_days = (now - created).days
        bucket = "recent" if age_days < 60 else "year" if age_days < 365 else "old"
        state = _weighted(rng, STATE_WEIGHTS[bucket])
        if state == "referred" and age_days < 1:
            state = "ready"

        if family_id == 0 or rng.random() < 0.62:
            family_id, family_team = case_id, rng.choice(plan.team_ids)
            out.rows["family"].append(out.family.row([family_id, created]))
            for j in range(1 if rng.random() < 0.4 else 2):
                given = rng.choice(GIVEN)
                relation = "mother" if j == 0 else rng.choice(["father", "guardian", "relative"])
                phone = f"+49 15{rng.randint(10, 79)} {rng.randint(1000000, 9999999)}"
                out.rows["guardian"].append(out.guardian.row([
                    family_id, relation, f"{given} {rng.choice(FAMILY)}", phone,
                    f"{given.lower()}.{case_id}@mail.example" if rng.random() < 0.6 else "",
                    rng.choice(["Ukrainisch", "Arabisch", "Dari", "Türkisch", "Rumänisch"]),
                    j == 0,
                ]))  # fmt: skip
        team_id = family_team
        coordinator_id = (
            rng.choice(plan.coordinators_by_team[team_id]) if rng.random() < 0.95 else None
        )
        age = rng.randint(1, 18)
        birth = created.date() - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        target, group = _group_for_age(rng, age)
        nationality, languages = rng.choice(NATIONALITIES)
        arrival_germany = created.date() - dt.timedelta(days=rng.randint(5, 400))
        arrival_city = min(created.date(), arrival_germany + dt.timedelta(days=rng.randint(0, 60)))
        interpreter = rng.random() < 0.7

        # Timeline: the transitions of the path, then referrals; the last step sets the state date.
        path = list(PATHS.get(state, PATHS["placed"]))
        closed_from = None
        if state == "closed":
            closed_from = rng.choice(["placed", "placed", "placed", "ready", "clarification"])
            path = [*PATHS[closed_from], ("close", closed_from, "closed")]
        horizon = min(now, created + dt.timedelta(days=rng.randint(20, 300)))
        open_created = None
        if state == "referred":
            # the open referral is at most 25 days old: older ones have expired
            open_created = max(
                created + dt.timedelta(hours=2), now - dt.timedelta(days=rng.uniform(0, 25))
            )
            horizon = open_created
        step_times = sorted(created + (horizon - created) * rng.random() for _ in range(len(path)))
        refs = CaseReferrals(out=out, plan=plan, rng=rng, case_id=case_id, group=group,
                             coordinator_id=coordinator_id)  # fmt: skip
        add_referral = refs.add

        # past, closed referrals (before the current open or enrolled one)
        n_past = 0
        if state in ("ready", "referred", "placed") or closed_from == "ready":
            n_past = rng.choice([0, 0, 0, 1, 1, 2])
        for _ in range(n_past):
            at = created + (horizon - created) * rng.random() * 0.5
            past = rng.choice(CLOSED_STATES)
            answered = at + dt.timedelta(days=3) if past in ("declined", "no_show") else None
            add_referral(past, at, answered=answered,
                         closed=at + dt.timedelta(days=rng.randint(3, 28)))  # fmt: skip
        if open_created is not None:
            # open: pending (with its reminders so far) or accepted with a future start date
            if rng.random() < 0.7:
                add_referral("pending", open_created)
            else:
                add_referral(
                    "accepted", open_created, answered=open_created + dt.timedelta(hours=20),
                    start_date=today + dt.timedelta(days=rng.randint(3, 25)),
                )  # fmt: skip
            step_times[-1] = open_created
        elif state == "placed" or closed_from == "placed":
            refer_at = step_times[-2] if state == "placed" else step_times[-3]
            place_at = step_times[-1] if state == "placed" else step_times[-2]
            add_referral(
                "enrolled", refer_at, answered=refer_at + dt.timedelta(days=2),
                closed=place_at, start_date=place_at.date(), enrolled=place_at.date(),
            )  # fmt: skip

        state_changed = step_times[-1] if step_times else created
        close_reason = ""
        if state == "closed":
            close_reason = (
                "done"
                if closed_from == "placed"
                else rng.choice(["moved_away", "withdrawn", "aged_out", "duplicate", "other"])
            )
        placed_on = None
        if state == "placed" or closed_from == "placed":
            placed_on = (step_times[-1] if state == "placed" else step_times[-2]).date()

        case = Case(
            id=case_id,
            reference=f"{plan.prefix}-{created.year}-{case_id:05d}",
            team_id=team_id, coordinator_id=coordinator_id, family_id=family_id, state=state,
            held_from="clarification" if state == "on_hold" else "",
            target_type=target, wanted_group=group,
            district_id=team_district(plan, team_id, rng),
            waiting_since=arrival_city, placed_on=placed_on,
            closed_on=state_changed.date() if state == "closed" else None,
            close_reason=close_reason,
            created_at=created, updated_at=state_changed, state_changed_at=state_changed,
            archive_status="",
            given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY), birth_date=birth,
            gender=rng.choice("fmmfdx"), nationality=nationality,
            languages=languages[: rng.randint(1, len(languages))],
            interpreter_needed=interpreter,
            interpreter_language=languages[0] if interpreter else "",
            address=f"{rng.choice(STREETS)} {rng.randint(1, 150)}, 560{rng.randint(10, 99)} "
            "Koblenz",
            arrival_germany=arrival_germany, arrival_city=arrival_city,
            residence_status=rng.choice(["asylum_seeker", "temporary_protection", "recognised",
                                         "tolerated", "eu_citizen", "unknown"]),
            school_years=max(0, age - 6 - rng.randint(0, 3)),
            last_grade=f"Klasse {max(1, age - 6)}" if age > 6 else "",
            literate_own_script=age > 7 and rng.random() < 0.8,
            german_level=rng.choice(["none", "none", "A1", "A2", "B1"]),
            health_notes=rng.choice(HEALTH) if rng.random() < 0.3 else "",
            support_needed=rng.random() < 0.15,
            support_notes=rng.choice(SUPPORT) if rng.random() < 0.1 else "",
            measles_proof=rng.random() < 0.8, school_health_check=rng.random() < 0.6,
            notes=rng.choice(NOTES) if rng.random() < 0.4 else "",
        )  # fmt: skip
        case.refresh_blind_indexes()
        out.rows["case"].append(out.case.from_instance(case))

        # history: creation, transitions (with referral lines), edits, assignments
        events = [(created, "created", "", "", "intake", "", [])]
        for (name, src, dst), at in zip(path, step_times, strict=True):
            reason = close_reason if name == "close" else ("waiting" if name == "hold" else "")
            events.append((at, "transition", name, src, dst, reason, []))
            if name == "refer":
                events.append((at, "referral", "", "", "", "", []))
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            at = created + (state_changed - created) * rng.random()
            events.append((at, "edited", "", "", "", "",
                           rng.sample(["address", "german_level", "notes", "health_notes",
                                       "languages", "school_years"], 2)))  # fmt: skip
        if rng.random() < 0.2:
            events.append((created + (state_changed - created) * rng.random(), "assigned",
                           "", "", "", "", []))  # fmt: skip
        for at, kind, name, src, dst, reason, fields in events:
            comment = (
                rng.choice(EVENT_COMMENTS) if kind == "transition" and rng.random() < 0.25 else ""
            )
            out.rows["event"].append(out.event.row([
                case_id, at, coordinator_id, kind, name, src, dst, reason, comment, fields,
            ]))  # fmt: skip
        out.rows["referral"].extend(refs.referrals)
        out.rows["reminder"].extend(refs.reminders)

        shared_with = None
        if rng.random() < 0.02 and len(plan.team_ids) > 1:
            other_team = team_id
            while other_team == team_id:
                other_team = plan.team_ids[rng.randrange(len(plan.team_ids))]
            shared_with = rng.choice(plan.coordinators_by_team[other_team])
            out.rows["share"].append(out.share.row([
                plan.work_case_perm_id, shared_with, case_id,
            ]))  # fmt: skip
        if spool is not None:
            end = now if state not in ("closed", "placed") else state_changed
            case_audit(spool, audit_rng, CaseLife(
                case_id=case_id, reference=case.reference, team_id=team_id,
                coordinator_id=coordinator_id, created=created, end=end, events=events,
                referrals=refs.lives, shared_with=shared_with,
            ))  # fmt: skip
    counts = out.flush()
    if spool is not None:
        counts["audit_spooled"] = spool.flush()
    return counts


def team_district(plan: Plan, team_id: int, rng: random.Random) -> int:
    """A district of the team's region: ``DISTRICTS_PER_TEAM`` neighbours (regions of
    neighbouring teams overlap a little when there are fewer districts than that per team)."""
    districts, teams = plan.district_ids, plan.team_ids
    if not plan.team_position:  # list.index() per case would cost O(teams) at every case
        plan.team_position.update({t: i for i, t in enumerate(teams)})
    start = plan.team_position[team_id] * len(districts) // len(teams)
    width = min(DISTRICTS_PER_TEAM, len(districts))
    return districts[(start + rng.randrange(width)) % len(districts)]


def _levels_sent(
    plan: Plan, state: str, created: dt.datetime, start_date: dt.date | None, today: dt.date
) -> list[str]:
    """The reminder levels already sent for a referral, so that nothing is due at rest."""
    th = plan.thresholds
    if state == "pending":
        age = working_days_between(created.date(), today, plan.holidays)
        # one day of margin: a level that is nearly due is already recorded
        return [lv for lv in ("r1", "r2", "esc") if age + 1 >= th[lv]]
    if state == "expired":
        return ["r1", "r2", "esc", "exp"]
    if state == "no_show":
        return ["e1", "e2"]
    if state in ("declined", "withdrawn") and created.day % 3 == 0:
        return ["r1"]
    if state == "accepted" and start_date is not None and start_date < today:
        return ["e1", "e2"]
    return []


# --- the audit log: rows built in the chunk workers, chained in `at` order -----------------
#
# Every chunk worker writes the audit entries of its cases, as far as they do not depend on
# the chain, to spool files: one per AUDIT_BUCKET_DAYS days of the log (and worker). Each line
# holds the entry's COPY text up to ``prev_hash`` and the JSON of its signed content after
# ``prev_hash``. The sequential step then reads the buckets in time order, sorts each one by
# ``at``, and only chains: one HMAC over a string concatenation per entry (the payload
# ``coordination.audit.entry_digest`` signs), then COPY. Memory: one bucket at a time.

AUDIT_BUCKET_DAYS = 2
AUDIT_COPY_ROWS = 200_000
_SEP = "\x1e"  # between the COPY text and the signed tail of a spooled entry
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
_JSON_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
AUDIT_COLUMNS = ["at", "actor_id", "actor_name", "roles", "ip", "action", "object_type",
                 "object_id", "case_reference", "fields", "detail", "prev_hash", "hash",
                 "key_id"]  # fmt: skip
CREATE_FIELDS = ("given_name", "family_name", "birth_date", "gender", "nationality",
                 "languages", "interpreter_needed", "interpreter_language", "address",
                 "arrival_germany", "arrival_city", "residence_status", "school_years",
                 "german_level")  # fmt: skip
LIST_SHOWN = ("given_name", "family_name")
IDENTITY_SHOWN = ("given_name", "family_name", "birth_date")
JOURNAL_KINDS = ("phone", "meeting", "home_visit", "letter", "email", "interpreted")


def _copy_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _ip_of(user_id: int) -> str:
    """A stable office address per user (institutions and the office: private networks)."""
    return f"10.{20 + user_id // 250 % 200}.{user_id % 250}.{17 + user_id % 7}"


@dataclass
class CaseLife:
    """What the audit log of one case is made of (from the generated case)."""

    case_id: int
    reference: str
    team_id: int
    coordinator_id: int | None
    created: dt.datetime
    end: dt.datetime  # the last change (placed, closed) or now (open cases)
    events: list[tuple[Any, ...]]  # (at, kind, transition, from, to, reason, fields)
    referrals: list[tuple[Any, ...]]  # (id, institution, state, created, answered, closed)
    shared_with: int | None


class AuditSpool:
    """Audit entries of one chunk, bucketed by day, appended to the spool files."""

    def __init__(self, plan: Plan) -> None:
        from cases.models import Case
        from coordination.crypto import get_audit_keys
        from coordination.fields import encrypted_fields
        from referrals.selectors import referral_page_fields

        self.plan = plan
        self.origin = plan.now - dt.timedelta(days=3 * 365 + 2)
        self.limit = plan.now - dt.timedelta(minutes=2)
        self.buckets: dict[int, list[str]] = {}
        self.count = 0
        self.key_id = get_audit_keys().active_id
        personal = [f.name for f in encrypted_fields(Case)]
        shown = ["guardians", "history", "journal.text", "journal.interpreter_language",
                 "followup.reason"]  # fmt: skip
        self.detail_fields = sorted({*personal, *shown})
        self.edit_fields = sorted(set(personal))
        self.referral_fields = sorted(set(referral_page_fields()))

    def add(
        self,
        at: dt.datetime,
        actor: int | None,
        action: str,
        object_type: str = "",
        object_id: Any = "",
        reference: str = "",
        fields: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
        actor_name: str | None = None,
        ip: str | None = None,
    ) -> None:
        """One entry, exactly as ``coordination.audit.audit_log`` would store it."""
        if at >= self.limit:
            return
        if at.microsecond == 0:
            at = at.replace(microsecond=1)  # isoformat() always with microseconds: sortable
        iso = at.isoformat()
        if actor is not None:
            name, roles = self.plan.users[actor]
            ip = ip or _ip_of(actor)
        else:
            name, roles = (actor_name or "system"), ""
        name = name[:150]
        field_list = sorted(set(fields))
        detail = detail or {}
        object_id = str(object_id)
        tail = _JSON([iso, actor, name, roles, ip, action, object_type, object_id, reference,
                      field_list, detail])[1:]  # fmt: skip
        copy = "\t".join((
            iso, "\\N" if actor is None else str(actor), _copy_text(name), roles,
            "\\N" if ip is None else ip, action, object_type, _copy_text(object_id), reference,
            _copy_text(_JSON_PLAIN(field_list)), _copy_text(_JSON_PLAIN(detail)),
        ))  # fmt: skip
        bucket = (at - self.origin).days // AUDIT_BUCKET_DAYS
        self.buckets.setdefault(bucket, []).append(f"{copy}{_SEP}{tail}\n")
        self.count += 1

    def flush(self) -> int:
        """Append the chunk's entries to the spool files (one per bucket and process)."""
        pid = os.getpid()
        for bucket, lines in self.buckets.items():
            path = os.path.join(self.plan.audit_dir, f"{bucket:05d}-{pid}.spool")
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(lines))
        self.buckets = {}
        count, self.count = self.count, 0
        return count


def _between(rng: random.Random, start: dt.datetime, end: dt.datetime, skew: float = 1.0):
    """A moment between ``start`` and ``end`` (``skew`` > 1: more of them early)."""
    if end <= start:
        return start + dt.timedelta(seconds=rng.randint(1, 600))
    return start + (end - start) * (rng.random() ** skew)


def _office_hours(rng: random.Random, at: dt.datetime) -> dt.datetime:
    """The same day, moved into office hours (7-17 h), for entries not tied to an event."""
    return at.replace(
        hour=rng.randint(7, 16), minute=rng.randrange(60), second=rng.randrange(60),
        microsecond=rng.randrange(1, 1_000_000),
    )  # fmt: skip


def case_audit(spool: AuditSpool, rng: random.Random, life: CaseLife) -> None:
    """The access and change log of one case over its life (about 20-25 entries).

    Creation (with the intake's duplicate check), a detail view before every change, the
    transitions, edits and assignment as the history has them, sharing and the colleague's
    views, every referral's creation, the institution staff's views and answers, its end
    (enrolled, no-show, withdrawn, expired by the system), list, search and dashboard pages
    that show the case's name, journal entries and follow-ups, the logins and logouts around
    the work, and rare office-wide entries (exports, audit searches, failed logins).
    """
    add, plan = spool.add, spool.plan
    ref, cid = life.reference, life.case_id
    team = plan.coordinators_by_team[life.team_id]
    me = life.coordinator_id or team[cid % len(team)]
    created, end = life.created, max(life.end, life.created + dt.timedelta(hours=1))
    case = ("cases.case", cid, ref)

    def work_time(skew: float = 1.0) -> dt.datetime:  # office hours, within the case's life
        at = _office_hours(rng, _between(rng, created, end, skew))
        return max(at, created + dt.timedelta(minutes=rng.randint(5, 60)))

    def near(k: int) -> list[str]:  # the case and others listed on the same page
        return sorted({ref, *(reference_of(plan, c) for c in
                              range(max(1, cid - k), cid) if c % 3 != cid % 3)})  # fmt: skip

    def view(at: dt.datetime, who: int, kind: str = "detail") -> None:
        fields = spool.edit_fields if kind == "edit" else spool.detail_fields
        add(at, who, "case.view", *case, fields=fields, detail={"view": kind})

    def session(at: dt.datetime, who: int) -> None:
        add(at - dt.timedelta(minutes=rng.randint(2, 90)), who, "auth.login", "coordination.user",
            who, "")  # fmt: skip
        if rng.random() < 0.6:
            add(at + dt.timedelta(minutes=rng.randint(5, 240)), who, "auth.logout",
                "coordination.user", who, "")  # fmt: skip

    # intake: the duplicate check, the new case, its page
    if rng.random() < 0.7:
        session(created, me)
    if rng.random() < 0.3:
        add(created - dt.timedelta(minutes=3), me, "case.view", fields=IDENTITY_SHOWN,
            detail={"view": "intake-check", "references": near(4)[:2]})  # fmt: skip
    add(created, me, "case.create", *case,
        fields=CREATE_FIELDS[: rng.randint(6, len(CREATE_FIELDS))])  # fmt: skip
    view(created + dt.timedelta(seconds=rng.randint(1, 5)), me)

    # the history: a look at the case before each change
    for at, kind, name, src, dst, _reason, fields in life.events[1:]:
        if kind == "transition":
            if rng.random() < 0.7:
                view(at - dt.timedelta(minutes=rng.randint(1, 30)), me)
            add(at, me, "case.transition", *case,
                detail={"transition": name, "from": src, "to": dst})  # fmt: skip
        elif kind == "edited":
            view(at - dt.timedelta(minutes=rng.randint(1, 10)), me, "edit")
            add(at, me, "case.update", *case, fields=fields)
        elif kind == "assigned":
            add(at, team[0], "case.assign", *case, detail={"to": plan.users[me][0]})
    if rng.random() < 0.3:
        add(_between(rng, created, end), me, "case.update", *case, fields=["guardians"])

    # referrals: created by the coordinator, read and answered by the institution's staff
    for ref_id, institution, state, at, answered, closed in life.referrals:
        staff = plan.staff_by_institution[institution]
        rid = ("referrals.referral", ref_id, ref)
        add(at, me, "referral.created", *rid, detail={"institution": institution,
                                                       "state": "pending"})  # fmt: skip
        seen = at + dt.timedelta(hours=rng.uniform(1, 48))
        if rng.random() < 0.5:
            add(seen - dt.timedelta(minutes=rng.randint(1, 20)), staff, "auth.login",
                "coordination.user", staff, "")  # fmt: skip
        for k in range(rng.choice([1, 1, 2])):
            add(seen + dt.timedelta(hours=k * rng.uniform(2, 30)), staff, "referral.view", *rid,
                fields=spool.referral_fields)  # fmt: skip
        if answered is not None:
            answer = "declined" if state == "declined" else "accepted"
            add(answered, staff, f"referral.{answer}", *rid,
                detail={"institution": institution, "state": answer})  # fmt: skip
        if closed is not None and state != "declined":
            who: int | None = me if state == "withdrawn" else staff
            if state == "expired":
                who = None
            add(closed, who, f"referral.{state}", *rid,
                detail={"institution": institution, "state": state})  # fmt: skip
            if state in ("enrolled", "no_show"):
                add(closed - dt.timedelta(minutes=rng.randint(1, 30)), staff, "referral.view",
                    *rid, fields=spool.referral_fields)  # fmt: skip
        if rng.random() < 0.2:
            add(_office_hours(rng, seen), staff, "places.update", "referrals.institution",
                institution, "", detail={"counts": {"free": rng.randint(0, 3)}})  # fmt: skip

    # the case's work between the changes: pages, journal, follow-ups, sharing
    for _ in range(rng.randint(1, 3)):
        at = work_time(1.5)
        if rng.random() < 0.3:
            session(at, me)
        view(at, me)
    for _ in range(rng.choice([1, 1, 2])):
        page = rng.choice(["list", "list", "dashboard", "search"])
        fields = [*LIST_SHOWN, *(["followup.reason"] if page == "dashboard" else [])]
        at = work_time(2.0)
        add(at, rng.choice(team), "case.view", fields=fields,
            detail={"view": page, "references": near(rng.randint(3, 25))})  # fmt: skip
    for k in range(rng.choice([0, 0, 1, 1, 2])):
        at = work_time(1.5)
        language = rng.random() < 0.5
        add(at, me, "journal.add", *case,
            fields=["journal.text", *(["journal.interpreter_language"] if language else [])],
            detail={"entry": cid * 3 + k, "kind": rng.choice(JOURNAL_KINDS)})  # fmt: skip
    if rng.random() < 0.35:
        at = work_time(1.5)
        due = at.date() + dt.timedelta(days=rng.randint(3, 21))
        detail = {"followup": cid, "due_on": due.isoformat()}
        add(at, me, "followup.created", *case, fields=["followup.reason"], detail=detail)
        done = _office_hours(rng, dt.datetime.combine(due, at.timetz()))
        if done < end:
            add(done, me, "followup.done", *case, detail=detail)
    if life.shared_with is not None:
        at = _between(rng, created, end)
        add(at, me, "case.share", *case, detail={"with": plan.users[life.shared_with][0]})
        for k in range(rng.randint(1, 3)):
            view(at + dt.timedelta(hours=1 + k * rng.uniform(1, 72)), life.shared_with)

    # office-wide entries, spread over the cases' days
    roll = rng.random()
    if roll < 0.01:
        at = work_time()
        session(at, plan.management_id)
        add(at, plan.management_id, "figures.export", detail={
            "format": rng.choice(["csv", "xlsx"]), "via": "web",
            "filters": {"period": rng.choice(["month", "quarter", "year"])},
        })  # fmt: skip
    elif roll < 0.015:
        at = work_time()
        session(at, plan.admin_id)
        add(at, plan.admin_id, "audit.search", detail={"case_reference": ref})
        if rng.random() < 0.3:
            add(at + dt.timedelta(minutes=2), plan.admin_id, "audit.export",
                detail={"case_reference": ref})  # fmt: skip
    elif roll < 0.017:
        add(work_time(), me, "case.access_report", *case,
            fields=spool.detail_fields, detail={"format": "html"})  # fmt: skip
    elif roll < 0.04:
        user = rng.choice(team)
        add(work_time(), None, "auth.login_failed",
            actor_name=plan.users[user][0], ip=_ip_of(user))  # fmt: skip


def reference_of(plan: Plan, case_id: int) -> str:
    """The reference the chunk generator gives case ``case_id``."""
    span = dt.timedelta(days=3 * 365)
    created = plan.now - span * (1 - (case_id - 1) / plan.size) + dt.timedelta(hours=8)
    created = min(created, plan.now - dt.timedelta(hours=1))
    return f"{plan.prefix}-{created.year}-{case_id:05d}"


def _audit_indexes(drop: bool) -> list[str]:
    """The audit table's secondary indexes (their CREATE statements); dropped if ``drop``.

    Built once after the load they cost a fraction of keeping them up to date row by row.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = 'coordination_auditentry' AND i.indexname NOT IN (
                SELECT conname FROM pg_constraint
                WHERE conrelid = 'coordination_auditentry'::regclass)
            """
        )
        found = cursor.fetchall()
        if drop:
            for name, _definition in found:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [definition for _name, definition in found]


def chain_audit(plan: Plan) -> int:
    """Chain the spooled entries in `at` order and write them (COPY on PostgreSQL)."""
    import hashlib
    import hmac

    from coordination.crypto import get_audit_keys
    from coordination.models import AuditEntry

    keys = get_audit_keys()
    key_id = keys.active_id
    key = keys.keys[key_id]
    head = "[" + _JSON(key_id) + ',"'
    digest, sha256 = hmac.digest, hashlib.sha256
    files: dict[str, list[str]] = {}
    for name in os.listdir(plan.audit_dir):
        files.setdefault(name.split("-")[0], []).append(name)
    postgres = connection.vendor == "postgresql"
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in AUDIT_COLUMNS)
    prev = ""
    total = 0
    pending: list[str] = []

    def write() -> None:
        if not pending:
            return
        with connection.cursor() as cursor:
            if postgres:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
                    cp.write("".join(pending))
            else:
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 14)})",
                    [_row_from_copy(line) for line in pending],
                )
        pending.clear()

    for bucket in sorted(files):
        lines: list[str] = []
        for name in files[bucket]:
            path = os.path.join(plan.audit_dir, name)
            with open(path, encoding="utf-8") as fh:
                lines.extend(fh.read().split("\n")[:-1])
            os.remove(path)
        lines.sort()
        for line in lines:
            copy, tail = line.split(_SEP, 1)
            prev_new = digest(key, f'{head}{prev}",{tail}'.encode(), sha256).hex()
            pending.append(f"{copy}\t{prev}\t{prev_new}\t{key_id}\n")
            prev = prev_new
        total += len(lines)
        if len(pending) >= AUDIT_COPY_ROWS:
            write()
    write()
    _check_chain_start()
    return total


def _row_from_copy(line: str) -> list[Any]:
    """A COPY text line back to values (the executemany path for SQLite)."""
    values: list[Any] = []
    for raw in line.rstrip("\n").split("\t"):
        if raw == "\\N":
            values.append(None)
            continue
        values.append(raw.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")
                      .replace("\\\\", "\\"))  # fmt: skip
    values[0] = connection.ops.adapt_datetimefield_value(dt.datetime.fromisoformat(values[0]))
    return values


def _check_chain_start() -> None:
    """The first and last entries as ``entry_digest`` computes them: if the audit module
    signs differently than this generator, fail now rather than with a broken data set."""
    from coordination.audit import entry_digest
    from coordination.models import AuditEntry

    for entry in [*AuditEntry.objects.order_by("id")[:3], *AuditEntry.objects.order_by("-id")[:1]]:
        if entry_digest(entry) != entry.hash:
            raise RuntimeError(
                f"generated audit entry {entry.pk} does not verify: coordination.audit."
                "entry_digest signs other content than benchmarks/generate.py spools"
            )


# --- the whole data set -------------------------------------------------------------------


def _chunk_in_process(args: tuple[Plan, int, int]) -> dict[str, int]:
    return generate_chunk(*args)


def _chunk_in_worker(args: tuple[Plan, int, int]) -> dict[str, int]:
    """In a forked worker: its own connection, closed when the chunk is written."""
    from django.db import connections

    try:
        return generate_chunk(*args)
    finally:
        connections.close_all()


def _finish(plan: Plan) -> None:
    """Sequences after explicit ids, reserved places from accepted referrals."""
    from cases.models import Case, Family
    from referrals.models import Referral

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Case, Family, Referral):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                f"(SELECT COALESCE(max(id), 1) FROM {table}))",
                [table],
            )
        cursor.execute(
            """
            UPDATE referrals_places p SET reserved = r.n
            FROM (SELECT institution_id, "group", count(*) AS n FROM referrals_referral
                  WHERE state = 'accepted' GROUP BY institution_id, "group") r
            WHERE p.institution_id = r.institution_id AND p."group" = r."group"
            """
        )


def generate(size: int, *, seed: int = 20260101, jobs: int = 1, audit: bool = True) -> Generated:
    """Fill the current (empty, migrated) database with ``size`` cases; returns timings."""
    started = time.perf_counter()
    phases: dict[str, float] = {}
    with transaction.atomic():
        plan = create_reference_data(size, seed)
    phases["reference data"] = time.perf_counter() - started
    if audit:
        plan.audit_dir = tempfile.mkdtemp(prefix="ankommen-bench-audit-")
    try:
        return _generate(plan, started, phases, jobs, audit)
    finally:
        if plan.audit_dir:
            shutil.rmtree(plan.audit_dir, ignore_errors=True)


def _generate(
    plan: Plan, started: float, phases: dict[str, float], jobs: int, audit: bool
) -> Generated:
    size = plan.size
    t = time.perf_counter()
    chunks = [(plan, s, min(s + CHUNK, size + 1)) for s in range(1, size + 1, CHUNK)]
    totals: dict[str, int] = {}
    jobs = max(1, min(jobs, len(chunks)))
    if jobs == 1:
        results: Iterable[dict[str, int]] = map(_chunk_in_process, chunks)
    else:
        from django.db import connections

        connections.close_all()  # never share a connection with a forked child
        pool = multiprocessing.get_context("fork").Pool(jobs)
        results = pool.imap_unordered(_chunk_in_worker, chunks)
    try:
        for counts in results:
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    finally:
        if jobs > 1:
            pool.close()
            pool.join()
    spooled = totals.pop("audit_spooled", 0)
    phases["cases, history, referrals (and audit rows)"] = time.perf_counter() - t

    if audit:
        postgres = connection.vendor == "postgresql"
        t = time.perf_counter()
        indexes = _audit_indexes(drop=True) if postgres else []
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
        totals["audit"] = chain_audit(plan)
        if totals["audit"] != spooled:
            raise RuntimeError(f"audit: {spooled} entries spooled, {totals['audit']} written")
        phases["audit log: chain and COPY"] = time.perf_counter() - t
        if indexes:
            t = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem TO '1GB'")
                for definition in indexes:
                    cursor.execute(definition)
                cursor.execute("RESET maintenance_work_mem")
            phases["audit log: indexes"] = time.perf_counter() - t
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
    _finish(plan)
    return Generated(seconds=time.perf_counter() - started, counts=totals, jobs=jobs, phases=phases)
