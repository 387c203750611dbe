"""``python manage.py export_all OUT.zip --user USERNAME [--team TEAM]``: the export of
everything (docs/import-export.md), for installations too large to download it from the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from coordination.exceptions import NotAllowed
from coordination.models import Team
from transfer.exporting import export_write


class Command(BaseCommand):
    help = "Export all cases, contacts, histories, referrals and reminders (decrypted) as a ZIP."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("out", help="the ZIP file to write")
        parser.add_argument("--user", required=True, help="who exports (logged)")
        parser.add_argument("--team", help="only this team (name or id)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {options['user']!r}")
        team = None
        if options.get("team"):
            value = options["team"]
            team = Team.objects.filter(name=value).first() or (
                Team.objects.filter(pk=int(value)).first() if value.isdigit() else None
            )
            if team is None:
                raise CommandError(f"no team {value!r}")
        path = Path(options["out"])
        try:
            with path.open("wb") as fh:
                counts = export_write(by=user, team=team, out=fh)
        except NotAllowed as exc:
            path.unlink(missing_ok=True)
            raise CommandError(f"{user.username} may not export this") from exc
        path.chmod(0o600)
        self.stdout.write(f"written {path}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
