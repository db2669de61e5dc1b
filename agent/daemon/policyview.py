"""The active policies as the agent's parent process holds them: compiled rules, no Presidio engine.

The pipeline that scans lives in the workers, each built there from a :class:`PipelineSpec`. The
parent needs the rules (metrics, gauges, alerts from vault records), the policies' findings for a
file no worker could read (agent.policy.unscanned: no classifier involved) and, rarely, a file's path
as alerts must show it: values in its name masked (agent.policy.names). Masking classifies the name,
which takes the whole recognizer engine, so :class:`ActivePolicies` builds that pipeline only on the
first alert that needs it (a worker killed on a file; a quarantine alerted after a crash whose vault
record predates shown paths), from the same spec the workers use.

A reload must not replace the workers with ones that cannot build their pipeline (they would fail
and be respawned forever while nothing is scanned). The loader checks what a pack can break; what is
left (the classifier's recognizers, the NER model, the index detectors) is checked by
:func:`check_buildable`, which builds the new pipeline once in a separate process from the workers'
forkserver, so the parent never holds a second engine for it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from agent.daemon.wiring import PipelineSpec
from agent.models import ExtractError, FileRef, Finding
from agent.policy import PolicyError, PolicySet
from agent.policy.unscanned import unscanned_findings
from agent.redact import Redactor

if TYPE_CHECKING:
    from agent.pipeline import Pipeline

log = structlog.get_logger(__name__)

#: A reload whose pipeline takes longer than this to build is refused (a worker builds in ~1-3 s).
BUILD_CHECK_SECONDS = 300.0
#: (json, level) for agent.log.configure_logging in a child process, as the workers get it.
LogSetup = tuple[bool | None, str] | None


class ActivePolicies:
    """The compiled policies, their UNSCANNED_CONTENT findings and (built on first need) name masking."""

    def __init__(self, policies: PolicySet, spec: PipelineSpec) -> None:
        self.policies = policies
        self.spec = spec
        self.redactor = Redactor(spec.key)
        self._names: Pipeline | None = None

    def unscanned(self, ref: FileRef, errors: Sequence[ExtractError]) -> tuple[Finding, ...]:
        return unscanned_findings(ref, errors, self.policies, self.redactor)

    def shown_path(self, ref: FileRef) -> str:
        return self._namer().shown_path(ref)

    def shown(self, ref: FileRef, findings: Sequence[Finding]) -> tuple[Finding, ...]:
        return self._namer().shown(ref, findings) if findings else ()

    def _namer(self) -> Pipeline:
        """The pipeline the workers build, built here once (seconds, and the engine's memory) on the
        first alert that shows a path the workers did not mask."""
        if self._names is None:
            log.info("name_masking_pipeline_built_in_agent")
            self._names = self.spec()
        return self._names


def check_buildable(
    spec: PipelineSpec, log_setup: LogSetup = None, timeout: float = BUILD_CHECK_SECONDS
) -> None:
    """Build the pipeline of ``spec`` once in a child of the workers' forkserver and drop it; raise
    PolicyError (one line: the exception class and the first line of its message) when it cannot."""
    ctx = multiprocessing.get_context("forkserver")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_build_once, args=(spec, send, log_setup), name="dropwarden-reload-check")
    proc.daemon = True
    proc.start()
    send.close()
    try:
        error = _result(recv, timeout)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)
        recv.close()
    if error:
        raise PolicyError("<reload>", "", "", f"the workers could not build the new pipeline: {error}")


def _result(recv: mpc.Connection, timeout: float) -> str:
    if not recv.poll(timeout):
        return f"not built within {timeout:.0f} s"
    try:
        return str(recv.recv())
    except EOFError:
        return "the check process died"


def _build_once(spec: PipelineSpec, send: mpc.Connection, log_setup: LogSetup) -> None:
    """In the child: build, answer "" or the failure, exit."""
    try:
        if log_setup is not None:
            from agent.log import configure_logging

            configure_logging(json=log_setup[0], level=log_setup[1])
        spec()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        send.send(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    else:
        send.send("")
    finally:
        send.close()
