"""Probing media files: backends, the shared rules, the isolated pool."""
