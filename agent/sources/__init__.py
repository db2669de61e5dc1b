"""Where files to scan come from: the safe directory walk (and the watcher/reconciler)."""
