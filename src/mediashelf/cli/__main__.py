"""`python -m mediashelf.cli`."""

from mediashelf.cli.startup import main

if __name__ == "__main__":  # probe pool processes re-import the main module
    main()
