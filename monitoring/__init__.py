"""Anonymised figures for management ("Bildungsmonitoring"): see ``docs/figures.md``."""
