"""Actions taken on verdicts: sinks (alert, webhook, syslog, ...) and quarantine. Import modules directly."""
