"""The configuration error, apart from the pydantic settings models that raise it.

`dropwarden scan` (and the other tuning tools) report it when given ``--config``, yet most runs have
no config: importing it from here keeps them from loading agent.daemon.settings to name it.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration file that cannot be used; ``str()`` is one line naming file and field."""
