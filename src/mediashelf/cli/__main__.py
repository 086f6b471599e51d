"""`python -m mediashelf.cli`."""

from mediashelf.cli.main import app

app()
