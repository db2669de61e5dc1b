"""Policy packs: schema, loader (layering, compile) and the pure evaluator.

Imports only ``agent.models`` and ``agent.redact``: the pipeline wires it to the other stages.
"""

from __future__ import annotations

from agent.policy.compiled import Issue, PolicyError, PolicySet, Rule
from agent.policy.evaluate import Decision, DocContext, Evaluation, evaluate
from agent.policy.loader import INDEX_ENTITIES, NER_ENTITIES, compile_policies, load_policies

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
