"""Who may call: the API token, page sessions, the log-in throttle, and their routes."""
