"""``Referral.reminder_level``: the highest reminder level recorded, for the sweep's index.

Existing referrals take the highest level of their reminder rows (levels are recorded in
ascending order: r1, r2, esc, exp, then e1, e2 after acceptance).
"""

from django.db import migrations, models

LEVEL_ORDER = ("r1", "r2", "esc", "exp", "e1", "e2")


def backfill(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    ReminderLog = apps.get_model("referrals", "ReminderLog")
    # Ascending: a referral with several levels ends with its highest one.
    for level in LEVEL_ORDER:
        Referral.objects.filter(
            pk__in=ReminderLog.objects.filter(level=level).values("referral_id")
        ).update(reminder_level=level)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_reminder_queue_and_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="reminder_level",
            field=models.CharField(
                blank=True, db_default="", default="", editable=False, max_length=4
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("state", "pending")),
                fields=["reminder_level", "created_at", "id"],
                name="ref_due_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("state", "accepted")),
                fields=["reminder_level", "start_date", "id"],
                name="ref_due_accepted",
            ),
        ),
        # Last: PostgreSQL refuses DDL on a table with pending (deferred) trigger events, which
        # the UPDATEs leave behind until the transaction commits.
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
