"""mediashelf: keeps a self-hosted media library's technical properties accurate."""

__version__ = "0.1.0"
