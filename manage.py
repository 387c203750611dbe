#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that only compare models with migration files need no secret and no key: they run
# on a bare checkout (a CI step, a reviewer's machine) with the development defaults.
# Everything else, the server included, still refuses to start without SECRET_KEY and keys.
SCHEMA_ONLY = {"makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordination.settings")
    if len(sys.argv) > 1 and sys.argv[1] in SCHEMA_ONLY:
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
