"""Benchmark settings: the production module with fixed bench keys and PostgreSQL.

Everything production-relevant stays as in production (DEBUG off, the same middleware,
sessions in the database, persistent connections). Only what a benchmark on 127.0.0.1 needs
differs: no HTTPS redirect, ``testserver`` allowed, plain static storage (no collectstatic),
in-memory mail, Celery tasks run eagerly (so a sweep's measured time includes the reminders
it sends), and the peer library's ``SALT_KEY``.
"""

import os
import tempfile

# Fixed, public bench-only keys: the generated data set can be reused between runs.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "b1:YW5rb21tZW4tYmVuY2gtZmllbGQta2V5LW9uZS0zMmI=")
os.environ.setdefault("BLIND_INDEX_KEY", "YW5rb21tZW4tYmVuY2gtYmxpbmQtaW5kZXgta2V5LSE=")
os.environ.setdefault("AUDIT_KEY", "b1:YW5rb21tZW4tYmVuY2gtYXVkaXQta2V5LWJlbmNoLSE=")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ankommen_bench")
os.environ.setdefault("ANKOMMEN_IGNORE_DOTENV", "1")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ANKOMMEN_VAR_DIR", os.path.join(tempfile.gettempdir(), "ankommen-bench-var"))

from coordination.settings import *  # noqa: F403

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver", "127.0.0.1", "localhost"]  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_EAGER_PROPAGATES = True

# django-fernet-encrypted-fields (the peer library in the crypto micro-benchmark).
SALT_KEY = ["ankommen-bench-salt"]

# The product's URLs plus the load test's floor page (benchmarks/urls.py); never in production.
ROOT_URLCONF = "benchmarks.urls"
