"""Sub-commands of the `dropwarden` command line; each module has ``register(subparsers)``."""
