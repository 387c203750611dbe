"""Management pages: anonymised figures (filled in by the management issue)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from coordination import roles


@login_required
def figures(request: HttpRequest) -> HttpResponse:
    if not roles.may_see_figures(request.user):
        raise PermissionDenied
    return render(request, "coordination/figures.html")
