"""The names of the library's job kinds (a module of its own so the CLI imports it cheaply)."""

from __future__ import annotations

LIBRARY_SCAN = "library_scan"
LIBRARY_SCAN_CHUNK = "library_scan_chunk"
LIBRARY_VERIFY = "library_verify"
