"""Audit events: what was done to the library, by whom, and what it changed."""
