"""The active policies as the agent's parent process holds them: compiled rules, no Presidio engine.

The pipeline that scans lives in the workers, each built there from a :class:`PipelineSpec`. The
parent needs the rules (metrics, gauges, alerts from vault records) and the policies' findings for a
file no worker could read (agent.policy.unscanned: no classifier involved). A path as alerts must
show it (values in its name masked, agent.policy.names) takes the recognizers, and the parent never
builds them: a worker masks its file's name before it reads the file and tells the parent
(agent.daemon.jobs.Named), so a worker killed on the file has said it already. The one name left,
a quarantine alerted after a crash whose vault record predates shown paths, is masked by
:meth:`ActivePolicies.shown_path` in a child process built from the same spec the workers use.

A reload must not replace the workers with ones that cannot build their pipeline (they would fail
and be respawned forever while nothing is scanned). The loader checks what a pack can break; what is
left (the classifier's recognizers, the NER model, the index detectors) is checked by
:func:`check_buildable`, which builds the new pipeline once in a separate process from the workers'
forkserver, so the parent never holds a second engine for it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from agent.daemon.outcome import withheld_path
from agent.daemon.wiring import PipelineSpec
from agent.models import ExtractError, FileRef, Finding
from agent.policy import PolicyError, PolicySet
from agent.policy.unscanned import unscanned_findings
from agent.redact import Redactor

log = structlog.get_logger(__name__)

#: A reload whose pipeline takes longer than this to build is refused (a worker builds in ~1-3 s).
BUILD_CHECK_SECONDS = 300.0
#: A name masked in a child process (a build and one short text) that takes longer is withheld.
NAME_CHECK_SECONDS = 120.0
#: (json, level) for agent.log.configure_logging in a child process, as the workers get it.
LogSetup = tuple[bool | None, str] | None


class ActivePolicies:
    """The compiled policies and their UNSCANNED_CONTENT findings; names masked out of process."""

    def __init__(self, policies: PolicySet, spec: PipelineSpec, log_setup: LogSetup = None) -> None:
        self.policies = policies
        self.spec = spec
        self.redactor = Redactor(spec.key)
        self.log_setup = log_setup

    def unscanned(self, ref: FileRef, errors: Sequence[ExtractError]) -> tuple[Finding, ...]:
        return unscanned_findings(ref, errors, self.policies, self.redactor)

    def shown_path(self, ref: FileRef, timeout: float = NAME_CHECK_SECONDS) -> str:
        """``ref``'s path as the workers would show it, from a pipeline built in a child process (seconds;
        only for vault records older than shown paths); withheld when the child cannot say in time."""
        answer, error = _ask_child(_shown_once, (self.spec, ref, self.log_setup), "names", timeout)
        if isinstance(answer, str):
            return answer
        log.warning("name_withheld", reason=error or "no answer")
        return withheld_path(ref, self.spec.key)


def check_buildable(
    spec: PipelineSpec, log_setup: LogSetup = None, timeout: float = BUILD_CHECK_SECONDS
) -> None:
    """Build the pipeline of ``spec`` once in a child of the workers' forkserver and drop it; raise
    PolicyError (one line: the exception class and the first line of its message) when it cannot."""
    answer, error = _ask_child(_build_once, (spec, log_setup), "reload-check", timeout)
    if answer != "" and not error:
        error = str(answer)
    if error:
        raise PolicyError("<reload>", "", "", f"the workers could not build the new pipeline: {error}")


def _ask_child(
    target: Callable[..., None], args: tuple[Any, ...], name: str, timeout: float
) -> tuple[Any, str]:
    """``target(*args, send)`` in a child of the workers' forkserver (never a fork of this threaded
    process): (its one answer, "") or (None, why there is none)."""
    ctx = multiprocessing.get_context("forkserver")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send), name=f"dropwarden-{name}")
    proc.daemon = True
    proc.start()
    send.close()
    try:
        return _result(recv, timeout)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)
        recv.close()


def _result(recv: mpc.Connection, timeout: float) -> tuple[Any, str]:
    if not recv.poll(timeout):
        return None, f"not built within {timeout:.0f} s"
    try:
        return recv.recv(), ""
    except EOFError:
        return None, "the check process died"


def _configure(log_setup: LogSetup) -> None:
    if log_setup is not None:
        from agent.log import configure_logging

        configure_logging(json=log_setup[0], level=log_setup[1])


def _build_once(spec: PipelineSpec, log_setup: LogSetup, send: mpc.Connection) -> None:
    """In the child: build, answer "" or the failure, exit."""
    try:
        _configure(log_setup)
        spec()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        send.send(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    else:
        send.send("")
    finally:
        send.close()


def _shown_once(spec: PipelineSpec, ref: FileRef, log_setup: LogSetup, send: mpc.Connection) -> None:
    """In the child: build, answer the path as the workers show it (nothing on a failure), exit."""
    try:
        _configure(log_setup)
        send.send(spec().shown_path(ref))
    except Exception as exc:
        log.error("name_masking_failed", error=type(exc).__name__)
    finally:
        send.close()
