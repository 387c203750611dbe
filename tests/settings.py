"""Test settings: the production module, with a tiny override for speed only.

Fixed test keys are used unless the environment provides keys; the embedded SQLite database
is used unless DATABASE_URL points at PostgreSQL (as in CI).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "t1:dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs=,"
    "t0:b2xkLXRlc3Qta2V5LW9sZC10ZXN0LWtleS1vbGQtdGU=",
)
os.environ.setdefault("BLIND_INDEX_KEY", "YmxpbmQtaW5kZXgta2V5LWJsaW5kLWluZGV4LWtleS0=")
os.environ.setdefault("AUDIT_KEY", "a1:YXVkaXQta2V5LWF1ZGl0LWtleS1hdWRpdC1rZXktYXU=")
os.environ.setdefault("ANKOMMEN_IGNORE_DOTENV", "1")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ANKOMMEN_VAR_DIR", os.path.join(tempfile.gettempdir(), "ankommen-test-var"))

from coordination.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
AXES_ENABLED = os.environ.get("TEST_AXES", "0") == "1"
# Serve static files from the app folders (no collectstatic in tests; e2e uses them too).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
