"""Integrity verification (`library_verify`): decode files fully, record what breaks."""
