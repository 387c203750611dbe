"""Request types for the type checker.

A view behind ``login_required`` (or the login middleware) serves a signed-in user; django's
``HttpRequest.user`` is typed as ``User | AnonymousUser``. Such views annotate their request as
``AuthenticatedRequest`` and pass ``request.user`` to the services and selectors, which type
the acting user as ``User``. Nothing changes at run time.
"""

from __future__ import annotations

from django.http import HttpRequest

from coordination.models import User


class AuthenticatedRequest(HttpRequest):
    """A request whose user is signed in (only a type: requests are never built from it)."""

    user: User
