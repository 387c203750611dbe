"""Domain errors: things a user can cause, each with a clear, translated message.

Views catch :class:`DomainError` and show ``message`` as a form error or a message; an
uncaught one is a bug (a 500).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    default_message = _("This action is not possible.")

    def __init__(self, message: object | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(str(self.message))


class NotAllowed(DomainError):
    default_message = _("You are not allowed to do this.")


class TransitionRefused(DomainError):
    default_message = _("This step is not possible in the current state.")


class ConcurrentChange(DomainError):
    default_message = _(
        "Someone else changed this record in the meantime. Reload the page and try again."
    )


class NoFreePlace(DomainError):
    default_message = _("There is no free place left in this grade or age group.")
