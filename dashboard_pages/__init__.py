"""The dashboard's tabs (``dashboard.py`` is the entry): each lays out widgets and calls ``htr``."""
