"""Alert delivery off the desktop (Slack, e-mail, ntfy, webhooks … through Apprise): a
consumer of alerts and lifecycle changes with its own threads, so it never blocks ingest."""
