"""Encrypted columns become binary (``bytea`` / BLOB): ``len(id) | id | nonce | ciphertext+tag``
instead of the text ``id$base64(nonce | ciphertext+tag)``. The same bytes without base64: a
quarter smaller, decrypted without decoding. No key is needed; reversible.
See coordination/encrypted_columns.py.
"""

from django.db import migrations

from coordination.encrypted_columns import convert

ENCRYPTED = {
    "case": [
        "given_name", "family_name", "birth_date", "gender", "nationality", "languages",
        "interpreter_needed", "interpreter_language", "address", "arrival_germany",
        "arrival_city", "residence_status", "school_years", "last_grade", "literate_own_script",
        "german_level", "health_notes", "support_needed", "support_notes", "measles_proof",
        "school_health_check", "notes",
    ],
    "guardian": ["name", "phone", "email", "preferred_language"],
    "caseevent": ["comment"],
}  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_case_birth_year_index"),
    ]

    operations = [convert("cases", ENCRYPTED)]
