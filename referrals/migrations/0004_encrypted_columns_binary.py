"""Encrypted columns become binary (``bytea`` / BLOB), as in cases 0004.
See coordination/encrypted_columns.py.
"""

from django.db import migrations

from coordination.encrypted_columns import convert

ENCRYPTED = {"referral": ["message", "answer_comment"]}


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0003_referral_reminder_level"),
    ]

    operations = [convert("referrals", ENCRYPTED)]
