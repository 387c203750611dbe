"""Demo data for development: teams, districts, institutions with places, users, cases.

Idempotent: running it twice gives the same data. Refuses to run with DEBUG off unless
``--force``. Every demo password is ``demo``. The demo ``admin`` must use a second factor
(administrators do by default): it gets a confirmed TOTP device whose secret is printed, and
``python -m coordination.devotp admin`` prints its current code.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from coordination.models import District, Team, User
from coordination.roles import (
    ADMINISTRATOR,
    COORDINATOR,
    INSTITUTION_STAFF,
    MANAGEMENT,
    ensure_role_groups,
)

DISTRICTS = {
    "Altstadt": ["Süd", "Lützel", "Ehrenbreitstein"],
    "Süd": ["Altstadt", "Oberwerth", "Karthause"],
    "Lützel": ["Altstadt", "Neuendorf", "Metternich"],
    "Neuendorf": ["Lützel", "Wallersheim"],
    "Wallersheim": ["Neuendorf", "Kesselheim"],
    "Kesselheim": ["Wallersheim"],
    "Metternich": ["Lützel", "Rübenach", "Güls"],
    "Rübenach": ["Metternich"],
    "Güls": ["Metternich", "Moselweiß"],
    "Moselweiß": ["Güls", "Karthause", "Rauental"],
    "Rauental": ["Moselweiß", "Goldgrube", "Süd"],
    "Goldgrube": ["Rauental", "Karthause"],
    "Karthause": ["Süd", "Goldgrube", "Moselweiß"],
    "Oberwerth": ["Süd", "Horchheim"],
    "Horchheim": ["Oberwerth", "Pfaffendorf"],
    "Pfaffendorf": ["Horchheim", "Ehrenbreitstein"],
    "Ehrenbreitstein": ["Altstadt", "Pfaffendorf", "Niederberg"],
    "Niederberg": ["Ehrenbreitstein", "Arenberg"],
    "Arenberg": ["Niederberg"],
}

TEAMS = [
    ("Team Nord", "team-nord@bildungsbuero.example"),
    ("Team Süd", "team-sued@bildungsbuero.example"),
]

USERS: list[dict[str, Any]] = [
    {"username": "coordinator", "first_name": "Lena", "last_name": "Becker",
     "role": COORDINATOR, "team": "Team Nord"},
    {"username": "coordinator2", "first_name": "Yusuf", "last_name": "Demir",
     "role": COORDINATOR, "team": "Team Süd"},
    {"username": "school", "first_name": "Petra", "last_name": "Schmitt",
     "role": INSTITUTION_STAFF, "institutions": ["Grundschule am Moselufer"]},
    {"username": "kita", "first_name": "Jana", "last_name": "Wagner",
     "role": INSTITUTION_STAFF, "institutions": ["Kita Sonnenblume"]},
    {"username": "management", "first_name": "Klaus", "last_name": "Hoffmann",
     "role": MANAGEMENT},
    {"username": "admin", "first_name": "Sabine", "last_name": "Krämer",
     "role": ADMINISTRATOR, "is_staff": True, "is_superuser": True},
]  # fmt: skip


class Command(BaseCommand):
    help = "Load demo teams, institutions, users (password 'demo') and cases. Idempotent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="run even with DEBUG off")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates users with the password 'demo'; with DEBUG "
                               "off it needs --force.")  # fmt: skip
        with transaction.atomic():
            ensure_role_groups()
            districts = self._districts()
            teams = self._teams()
            from demo.institutions import seed_institutions

            institutions = seed_institutions(districts)
            users = self._users(teams, institutions)
            admin_device = self._second_factor(users["admin"])
            for team in teams.values():
                lead = next((u for u in users.values() if u.team_id == team.pk), None)
                if lead and team.lead_id is None:
                    team.lead = lead
                    team.save(update_fields=["lead"])
            from demo.cases import seed_cases

            created = seed_cases(users=users, districts=districts, institutions=institutions)
            from demo.offers import seed_offers

            offers, registrations = seed_offers(users=users, districts=districts)
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data ready: {len(users)} users, {len(institutions)} institutions, "
                f"{created} new cases, {offers} offers, {registrations} new offer registrations "
                "(password for every demo user: demo)"
            )
        )
        secret = base64.b32encode(admin_device.bin_key).decode("ascii")
        self.stdout.write(
            f"demo admin's second factor (TOTP, 6 digits, 30 seconds): secret {secret}\n"
            "  add the secret to an authenticator app, or print the current code with\n"
            "  `.venv/bin/python -m coordination.devotp admin` (or `oathtool --totp -b SECRET`)"
        )

    def _second_factor(self, user: User) -> TOTPDevice:
        """The demo admin's device (kept on later runs, so an app set up once keeps working)."""
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Demo", confirmed=True)
        return device

    def _districts(self) -> dict[str, District]:
        districts = {name: District.objects.get_or_create(name=name)[0] for name in DISTRICTS}
        for name, neighbours in DISTRICTS.items():
            districts[name].neighbours.add(*(districts[n] for n in neighbours))
        return districts

    def _teams(self) -> dict[str, Team]:
        teams = {}
        for name, mailbox in TEAMS:
            team, _created = Team.objects.get_or_create(name=name, defaults={"mailbox": mailbox})
            teams[name] = team
        return teams

    def _users(self, teams: dict[str, Team], institutions: dict[str, Any]) -> dict[str, User]:
        users = {}
        for spec in USERS:
            user, created = User.objects.get_or_create(
                username=spec["username"],
                defaults={
                    "first_name": spec["first_name"],
                    "last_name": spec["last_name"],
                    "email": f"{spec['username']}@ankommen.example",
                    "team": teams.get(spec.get("team", "")),
                    "is_staff": spec.get("is_staff", False),
                    "is_superuser": spec.get("is_superuser", False),
                },
            )
            if created:
                user.set_password("demo")
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=spec["role"]))
            for name in spec.get("institutions", []):
                assign_perm("referrals.staff_institution", user, institutions[name])
            users[spec["username"]] = user
        return users
