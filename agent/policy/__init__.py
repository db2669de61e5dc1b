"""Policy packs: schema, loader (layering, compile) and the pure evaluator.

Imports only ``agent.models`` and ``agent.redact``: the pipeline wires it to the other stages.

The loader's names load on first use (PEP 562): a light submodule (``agent.policy.shipped``, the ack
file's path in ``agent.policy.acks``) does not pull in the pydantic pack schema and the loader, which
`config check` and `policy lint` answered from their cache never need. The evaluator stays eager:
``evaluate`` is also its submodule's name, which a first import of that submodule would bind here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.policy.compiled import INDEX_ENTITIES, NER_ENTITIES, Issue, PolicyError, PolicySet, Rule
from agent.policy.evaluate import Decision, DocContext, Evaluation, evaluate

if TYPE_CHECKING:
    from agent.policy.loader import compile_policies, load_policies

#: The loader's public names, imported from it on first use.
_LOADER_NAMES = ("compile_policies", "load_policies")

__all__ = [
    "INDEX_ENTITIES",
    "NER_ENTITIES",
    "Decision",
    "DocContext",
    "Evaluation",
    "Issue",
    "PolicyError",
    "PolicySet",
    "Rule",
    "compile_policies",
    "evaluate",
    "load_policies",
]


def __getattr__(name: str) -> Any:
    if name not in _LOADER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from agent.policy import loader

    return getattr(loader, name)
