"""The database a lag-tolerant read goes to: the replica when one is configured.

``DATABASE_REPLICA_URL`` adds the ``replica`` alias (settings). Only selectors whose reader
never needs to see their own write of a moment ago call ``read_replica()`` (docs/deployment.md,
"Read replicas": the audit search and export now; the figures' aggregate queries are the next
candidate). Everything else, and every write, stays on ``default``. Not a database router: a
router decides per model, and the same models are read both ways.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA_ALIAS = "replica"


def read_replica() -> str:
    """``"replica"`` when ``DATABASE_REPLICA_URL`` is set, else ``"default"``."""
    return REPLICA_ALIAS if REPLICA_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS
