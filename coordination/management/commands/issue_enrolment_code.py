"""Issue a one-time enrolment code for the second factor from the command line.

For the very first administrator (nobody can yet open the admin) and for an administrator who
lost the only device: ``--remove-devices`` deletes the user's devices first. The code is
printed once and stored as a hash only; the step is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device

from coordination.audit import audit_log
from coordination.models import User
from coordination.services import enrolment_code_issue


class Command(BaseCommand):
    help = (
        "Print a one-time code with which USERNAME sets up a second factor (valid 72 hours). "
        "For the first administrator, or one who lost the only device (--remove-devices)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--remove-devices",
            action="store_true",
            help="delete the user's second-factor devices first (a lost device)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        with transaction.atomic():
            if options["remove_devices"]:
                removed = 0
                for device in devices_for_user(user, confirmed=None):
                    device.delete()
                    removed += 1
                audit_log(
                    actor=None,
                    actor_name="manage.py (issue_enrolment_code)",
                    action="auth.otp_devices_removed",
                    obj=user,
                    detail={"count": removed},
                )
            elif user_has_device(user, confirmed=True):
                raise CommandError(
                    f"{user.username} already has a second factor; if the device was lost, "
                    "run again with --remove-devices"
                )
            code, valid_until = enrolment_code_issue(user=user, via="issue_enrolment_code")
        local = timezone.localtime(valid_until).strftime("%Y-%m-%d %H:%M")
        self.stdout.write(f"Enrolment code for {user.username}: {code}")
        self.stdout.write(f"Valid once, until {local}. It is not stored in clear: note it now.")
        self.stdout.write(
            "At the next login, enter it after the password, then set up an authenticator app."
        )
