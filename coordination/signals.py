"""Audit-log receivers: logins, role and permission changes, and every Django admin change.

Connected in ``CoordinationConfig.ready``. They are generic on purpose (no app is imported),
so a model or admin added later by another app is covered without a change here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from coordination.audit import audit_log, client_ip, current_actor
from coordination.models import User

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def _clean_name(value: Any) -> str:
    """A typed user name, safe to store: no control characters, bounded length."""
    return _CONTROL.sub("?", str(value or ""))[:150]


@receiver(user_logged_in, dispatch_uid="audit_login")
def log_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_log(actor=user, action="auth.login", obj=user, ip=client_ip(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def log_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # ``credentials`` has the password already masked by Django; only the name is kept.
    name = _clean_name(credentials.get("username", ""))
    audit_log(
        actor=None,
        actor_name=name or "?",
        action="auth.login_failed",
        ip=client_ip(request) if request is not None else None,
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def log_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had already expired
        return
    audit_log(actor=user, action="auth.logout", obj=user, ip=client_ip(request))


def log_locked_out(sender: Any, request: Any = None, username: Any = "", **kwargs: Any) -> None:
    """django-axes refused a login: too many failures for this name and address."""
    audit_log(
        actor=None,
        actor_name=_clean_name(username) or "?",
        action="auth.locked_out",
        ip=client_ip(request) if request is not None else kwargs.get("ip_address"),
    )


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="audit_roles")
def log_role_change(
    sender: Any, instance: Any, action: str, pk_set: Any, model: Any, **kwargs: Any
) -> None:
    """Roles are groups: every grant and removal is logged (admin, shell or seed)."""
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if isinstance(instance, User):
        users, groups = (
            [instance],
            sorted(model.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True)),
        )
    else:  # changed from the group's side
        users = list(User.objects.filter(pk__in=pk_set or ()))
        groups = [instance.name]
    for user in users:
        if hasattr(user, "_role_names"):  # roles.role_names caches them on the object
            del user._role_names
        audit_log(
            actor=current_actor(),
            action="user.roles",
            obj=user,
            detail={"change": action.removeprefix("post_"), "roles": groups},
        )


def _object_permission_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A django-guardian object permission (a shared case, staff of an institution)."""
    created = kwargs.get("created")
    action = "permission.revoke" if created is None else "permission.grant"
    if created is False:
        action = "permission.change"
    target = getattr(instance, "user", None) or getattr(instance, "group", None)
    obj = getattr(instance, "content_object", None)
    audit_log(
        actor=current_actor(),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(getattr(obj, "pk", "")),
        case_reference=getattr(obj, "reference", "") or "",
        detail={
            "permission": getattr(instance.permission, "codename", ""),
            "holder": getattr(target, "username", None) or getattr(target, "name", ""),
        },
    )


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_log")
def log_admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Mirror every Django admin add / change / delete into the tamper-evident log."""
    if not created:
        return
    fields: list[str] = []
    try:
        for item in json.loads(instance.change_message or "[]"):
            fields.extend(item.get("changed", {}).get("fields", []))
    except (ValueError, AttributeError, TypeError):
        pass
    content_type = instance.content_type
    audit_log(
        actor=instance.user,
        action=ADMIN_ACTIONS.get(instance.action_flag, "admin.change"),
        object_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        object_id=str(instance.object_id or ""),
        fields=[str(f) for f in fields],
    )


def connect() -> None:
    """Connect the receivers that need the app registry (called from ``ready``)."""
    from django.apps import apps

    for model in apps.get_models():
        if issubclass(model, UserObjectPermissionBase | GroupObjectPermissionBase) and not (
            model._meta.abstract
        ):
            post_save.connect(
                _object_permission_changed, sender=model, dispatch_uid=f"audit_perm_{model}"
            )
            post_delete.connect(
                _object_permission_changed, sender=model, dispatch_uid=f"audit_perm_del_{model}"
            )
    from axes.signals import user_locked_out

    user_locked_out.connect(log_locked_out, dispatch_uid="audit_locked_out")
