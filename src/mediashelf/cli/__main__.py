"""`python -m mediashelf.cli`."""

from mediashelf.cli.main import app

if __name__ == "__main__":  # probe pool processes re-import the main module
    app()
