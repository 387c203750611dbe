"""``manage.py send_outbox``: send the due outgoing e-mails in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from coordination.outbox import outbox_flush


class Command(BaseCommand):
    help = (
        "Send the queued e-mails that are due, here rather than by the worker (for operations "
        "without a worker). Rows a stopped worker left 'sending' are queued again first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            action="store_true",
            help="also send queued e-mails whose next attempt is not due yet (after a backoff)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = outbox_flush(send_now=True, force=options["now"])
        for line in result.lines():
            self.stdout.write(line)
