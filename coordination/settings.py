"""One settings module, read from the environment (twelve-factor).

Defaults give the embedded set-up (SQLite and a filesystem Celery broker under ``var/``);
``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis. With ``DEBUG``
off the module refuses to load without a secret key and encryption keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ANKOMMEN_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# A git-ignored .env written by `make run` holds development secrets; the real
# environment always wins over it.
if (BASE_DIR / ".env").exists() and not env.bool("ANKOMMEN_IGNORE_DOTENV", default=False):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(or DEBUG=1 for development; `make run` writes one into .env)."
        )
    SECRET_KEY = "insecure-development-only-key"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "guardian",
    "django_htmx",
    "administration.package_apps.LoginAttemptsConfig",  # django-axes, named for the admin
    "django_otp",
    "administration.package_apps.SecondFactorConfig",  # django-otp's TOTP, named for the admin
    "coordination",
    "cases",
    "referrals",
    "offers",
    "monitoring",
    "demo",
    "transfer",
    "administration",
]

MIDDLEWARE = [
    "coordination.middleware.HealthCheckMiddleware",  # before the host check: docker asks
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "coordination.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "coordination.middleware.AuditContextMiddleware",
    "coordination.middleware.SecondFactorMiddleware",
    "coordination.middleware.AdminAccessAuditMiddleware",
    "coordination.middleware.PrivateResponseMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "coordination.urls"
WSGI_APPLICATION = "coordination.wsgi.application"
ASGI_APPLICATION = "coordination.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coordination.context_processors.navigation",
            ],
        },
    }
]

VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'ankommen.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# A kept connection that the server closed meanwhile (restart, failover, idle timeout, an
# operator's pg_terminate_backend) is noticed before a request uses it, and replaced: the
# request does not fail. Costs one trivial query when a request first uses the connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer fails a request after seconds, not after the
    # operating system's TCP timeout (minutes), which would hold every gunicorn worker.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# A streaming replica, read only by the selectors that tolerate lag and never follow the
# reader's own write (coordination/replica.py; docs/deployment.md, "Read replicas").
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    for _key in ("ATOMIC_REQUESTS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        DATABASES["replica"][_key] = DATABASES["default"][_key]
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
    # Tests read the primary under this name (no second test database).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "coordination.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is not needed: anonymous visitors see nothing.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sessions and security -------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True  # the age counts from the last request: idle expiry
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Login throttling (django-axes) ----------------------------------------------------
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock-out page says for how long and whom to ask (templates/registration/locked_out.html).
AXES_LOCKOUT_CALLABLE = "coordination.views.locked_out"
AXES_VERBOSE = False
# Reverse proxies in front of the app (0: trust REMOTE_ADDR only). The audit log and
# axes take the client address the same way (coordination.audit.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "coordination.audit.client_ip"

# --- Second factor (django-otp, TOTP); required per role in OfficeSettings ---------------
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Ankommen")
# Administrators may remove a user's device, never read its secret (that would let them pass
# the second factor as that user).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Internationalisation -------------------------------------------------------------
# German first: pages are German unless a logged-in user chose English (User.language,
# applied by UserLanguageMiddleware). The browser's Accept-Language is deliberately ignored,
# so the login page of a city office is German on every machine.
LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- E-mail ---------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    ),
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ankommen@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
OFFICE_MAILBOX = env.str("OFFICE_MAILBOX", default="bildungsbuero@localhost")
# Only for EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend (tests, demos).
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))

# --- Field encryption (coordination/crypto.py) -------------------------------------------
# "id:base64key,id2:base64key2" - the first is the active key. Never in the database.
FIELD_ENCRYPTION_KEYS = env.str("FIELD_ENCRYPTION_KEYS", default="")
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default="")
if not DEBUG and not (FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY):
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY must be set in production "
        "(see README, 'Configuration'). `make run` writes development keys into .env."
    )
# The audit log's HMAC chain (docs/audit-log.md): "id:base64key,..." like the field keys, the
# first one active. Kept outside the database, so whoever can write the table cannot forge it.
AUDIT_KEY = env.str("AUDIT_KEY", default="")
if not DEBUG and not AUDIT_KEY:
    raise ImproperlyConfigured(
        "AUDIT_KEY must be set in production (see docs/audit-log.md). "
        "`make run` writes a development key into .env."
    )

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    for _d in (_queue_dir, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "control"):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    # Tasks are short; redelivery after an hour covers a worker killed mid-task. Keep it above
    # the longest retry countdown (15 minutes, referrals/reminders.py); tests shorten it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Sends only while it holds a PostgreSQL advisory lock: a second beat started by mistake waits
# as a standby instead of queueing every task twice (coordination/beat.py).
CELERY_BEAT_SCHEDULER = "coordination.beat:SingleBeatScheduler"
SWEEP_MINUTES = env.int("SWEEP_MINUTES", default=15)
# Sent, failed and cancelled outgoing e-mails are deleted after this many days (the nightly
# retention run; docs/outbox.md, "Pruning"). Queued ones are never deleted.
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=90)
# Processes the worker protects the figures in (monitoring/protection.py); 0: the CPUs, at most 4.
FIGURES_PROCESSES = env.int("FIGURES_PROCESSES", default=0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {
        # "Worker last seen" on the administrators' start page (coordination/heartbeat.py).
        "task": "coordination.tasks.worker_heartbeat",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "outbox-flush": {
        # Mails the broker never got or lost, and those a stopped worker left "sending".
        "task": "coordination.outbox_tasks.outbox_flush",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "sweep-referrals": {
        "task": "referrals.tasks.sweep_referrals",
        "schedule": SWEEP_MINUTES * 60.0,
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": SWEEP_MINUTES * 60.0},
    },
    "weekly-waiting-digest": {
        "task": "referrals.tasks.send_waiting_digests",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
    },
    "warm-figures": {
        # Sooner than the figures go stale (5 minutes): recomputed before a page asks.
        "task": "monitoring.tasks.warm_figures",
        "schedule": 240.0,
        "options": {"expires": 230},
    },
    "daily-retention": {
        "task": "cases.tasks.apply_retention",
        "schedule": crontab(hour=2, minute=30),
    },
    "sweep-imports": {
        # Uploaded files older than a day are deleted; a check or import whose worker
        # stopped is handed over again (it resumes where it stopped).
        "task": "transfer.tasks.sweep_imports",
        "schedule": 600.0,
        "options": {"expires": 590},
    },
    "nightly-audit-head": {
        # After the retention run (which prunes the log): the head sent out is the final one.
        "task": "coordination.tasks.send_audit_head",
        "schedule": crontab(hour=2, minute=45),
    },
}

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Cache: an optimisation, never a dependency (docs/adr/0005-cache-is-optional.md) -------
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "ankommen",
    }
}
if env.str("CACHE_URL", default=""):
    CACHES["default"] = env.cache_url("CACHE_URL")
    if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        # Redis down or hung: misses instead of errors, after a short wait, and then no
        # wait at all for retry_after seconds (coordination/cache.py). The URL's query
        # string overrides these (redis://host:6379/2?socket_timeout=2).
        CACHES["default"]["BACKEND"] = "coordination.cache.FailSoftRedisCache"
        _cache_options = CACHES["default"].setdefault("OPTIONS", {})
        _cache_options.setdefault("socket_connect_timeout", 0.5)
        _cache_options.setdefault("socket_timeout", 1.0)
        _cache_options.setdefault("retry_after", 10)

# --- Product settings (defaults; an administrator overrides them in OfficeSettings) ----
CASE_REFERENCE_PREFIX = env.str("CASE_REFERENCE_PREFIX", default="NZ")
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
