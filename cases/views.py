"""Coordinator workspace views (thin: parse, authorise through a selector, call a service)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cases.selectors import case_get_for_user, cases_visible_to
from coordination.roles import is_coordinator


def _coordinator_only(request: HttpRequest) -> None:
    if not is_coordinator(request.user):
        raise PermissionDenied


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    _coordinator_only(request)
    return render(request, "cases/dashboard.html", {"count": cases_visible_to(request.user).count()})


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    _coordinator_only(request)
    return render(request, "cases/dashboard.html", {"count": cases_visible_to(request.user).count()})


@login_required
def register(request: HttpRequest) -> HttpResponse:
    _coordinator_only(request)
    return render(request, "cases/dashboard.html", {"count": 0})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    return render(request, "cases/dashboard.html", {"count": 1, "case": case})
