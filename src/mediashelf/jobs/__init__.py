"""The durable job engine: queue, workers, retries, cancellation, schedules, logs."""
