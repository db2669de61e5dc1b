"""What guards the agent itself: keys, signatures, the tamper-evident audit log, sealed evidence."""
