"""Administrators must use a second factor by default; one-time enrolment codes.

The data step adds "administrator" to an existing settings row (a new installation gets it
from the field's default). An office may untick it again in Office settings; that is
discouraged (docs/second-factor.md). Reversing leaves the row as it is: it cannot know
whether the office had ticked it itself.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import coordination.models


def require_administrators(apps, schema_editor):  # type: ignore[no-untyped-def]
    OfficeSettings = apps.get_model("coordination", "OfficeSettings")
    for office in OfficeSettings.objects.all():
        roles = list(office.otp_required_roles or [])
        if "administrator" not in roles:
            office.otp_required_roles = [*roles, "administrator"]
            office.save(update_fields=["otp_required_roles"])


class Migration(migrations.Migration):
    dependencies = [
        ("coordination", "0007_office_closed_referral_days"),
    ]

    operations = [
        migrations.AlterField(
            model_name="officesettings",
            name="otp_required_roles",
            field=models.JSONField(
                blank=True,
                default=coordination.models.default_otp_required_roles,
                verbose_name="roles that must use a second factor",
            ),
        ),
        migrations.RunPython(require_administrators, migrations.RunPython.noop),
        migrations.CreateModel(
            name="EnrolmentCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code_hash", models.CharField(max_length=128, verbose_name="code (hash)")),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="issued at"
                    ),
                ),
                ("expires_at", models.DateTimeField(verbose_name="valid until")),
                ("used_at", models.DateTimeField(blank=True, null=True, verbose_name="used at")),
                (
                    "failed_attempts",
                    models.PositiveSmallIntegerField(default=0, verbose_name="wrong attempts"),
                ),
                (
                    "issued_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="issued by",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="enrolment_codes",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "enrolment code",
                "verbose_name_plural": "enrolment codes",
            },
        ),
    ]
