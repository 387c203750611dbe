"""Demo data across the apps (``manage.py seed_demo``): on top of the layers, like monitoring.

The command seeds teams and users (coordination), institutions (referrals) and cases
(cases); ``coordination`` may import no app, so the command that needs all of them lives
here, not in the base.
"""
