"""Helpers for the deploy tests: which metric names the agent exports, and which a PromQL expression uses.

Alerts and dashboards that name a metric the agent never exports are silently empty forever, so the
tests compare the two sets instead of trusting review.
"""

from __future__ import annotations

import re
import shutil

from prometheus_client import Counter, Gauge, Histogram

from agent.metrics import Metrics

#: Series Prometheus itself writes for every target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
     "group_right", "inf", "nan", "atan2", "start", "end"}
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")


def touch_all(metrics: Metrics) -> None:
    """Give every metric family one sample (labelled families export nothing until first used)."""
    for obj in vars(metrics).values():
        if not isinstance(obj, Counter | Gauge | Histogram):
            continue
        labelnames = obj._labelnames  # prometheus_client has no public accessor for these
        child = obj.labels(**{name: "example" for name in labelnames}) if labelnames else obj
        if isinstance(child, Counter):
            child.inc()
        elif isinstance(child, Gauge):
            child.set(1)
        else:
            child.observe(0.3)


def exported_metric_names() -> set[str]:
    """Sample names (``x_total``, ``x_bucket``, ``x_created``, gauges ...) a fully used Metrics() exposes.

    Family names alone are not enough: a counter family ``dropwarden_alerts`` is exposed only as
    ``dropwarden_alerts_total`` (and ``_created``), so a query on the bare family name finds nothing.
    """
    m = Metrics()
    touch_all(m)
    names: set[str] = set()
    for fam in m.registry.collect():
        samples = {s.name for s in fam.samples}
        if not samples:
            raise AssertionError(f"metric family {fam.name} exposed no sample after touch_all()")
        names |= samples
    return names


def metric_names_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and label names excluded)."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VAR.sub("1", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name in _KEYWORDS:
            continue
        names.add(name)
    return names


def find_tool(*names: str) -> str | None:
    """First of ``names`` found on PATH (Debian calls alertmanager prometheus-alertmanager)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None
