"""What the engine tells its operators: Prometheus metrics and Sentry reports.

Recording or reporting never breaks publishing.
"""
