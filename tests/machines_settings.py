"""Settings of the processes that ``tests/test_several_machines.py`` starts: three web
servers, two workers and one beat against one database and one Redis, as on separate hosts.

The test settings (same keys and password hasher as the test process that made the users),
but nothing eager: tasks go through the broker to the worker processes. A queue and a cache
key prefix of their own keep them apart from anything else using the same Redis database;
mail is written to files, so the test can count what was sent.
"""

import os

from tests.settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["MACHINES_QUEUE"]
CACHES["default"]["KEY_PREFIX"] = os.environ["MACHINES_QUEUE"]  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
WHITENOISE_AUTOREFRESH = False
