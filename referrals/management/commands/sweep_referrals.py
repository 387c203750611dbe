"""``manage.py sweep_referrals``: run one reminder sweep now and print what it did."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from referrals.reminders import referrals_sweep


class Command(BaseCommand):
    help = (
        "Run one sweep of pending and accepted referrals now: write the reminders, escalations "
        "and expiries that are due, queue them for the worker (or send them here with --send), "
        "and queue again what the broker lost. Prints the levels and counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--send",
            action="store_true",
            help="send the e-mails in this process instead of queueing them for the worker",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = referrals_sweep(send_now=options["send"])
        for line in result.lines():
            self.stdout.write(line)
