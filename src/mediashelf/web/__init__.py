"""The web edge: JSON API and HTML pages over the same services."""
