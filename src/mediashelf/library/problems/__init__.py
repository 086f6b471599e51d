"""The problems view: every track whose last probe failed, is quarantined, missing, or broken."""
