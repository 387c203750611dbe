"""Institution inbox and referral views (thin: parse, authorise through a selector, call a service)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from coordination.roles import is_institution_staff
from referrals.selectors import referral_get_for_user, referrals_for_institution


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    if not is_institution_staff(request.user):
        raise PermissionDenied
    referrals = referrals_for_institution(request.user)
    return render(request, "referrals/inbox.html", {"referrals": referrals})


@login_required
def places(request: HttpRequest) -> HttpResponse:
    if not is_institution_staff(request.user):
        raise PermissionDenied
    return render(request, "referrals/inbox.html", {"referrals": []})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    referral = referral_get_for_user(user=request.user, pk=pk)
    return render(request, "referrals/inbox.html", {"referrals": [referral]})
