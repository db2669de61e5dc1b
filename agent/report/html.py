"""`scan --format html`: one self-contained page for people who read reports in a browser or a mail.

Inline CSS and JS only, and a Content-Security-Policy that forbids loading anything else, so the file
works offline and from a mail attachment. Like every reporter it sees only Finding fields (redacted
excerpts, keyed fingerprints) and the inventory (every file and member: its format, how many characters
of text it gave, and why it was not read); every string is HTML-escaped. The page filters by severity and
policy in the browser; the initial filter can come from the URL fragment
(``report.html#severity=high,critical&policy=bank-secrecy``), so a filtered view can be shared.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import IO

from agent.models import SEVERITIES, SEVERITY_RANK, ExtractError, FileRecord, Finding, Verdict
from agent.redact import printable

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.file{margin:1em 0;border-left:4px solid #999;padding-left:.8em}
.file h3{font-size:1em;margin:.3em 0;word-break:break-all}code{font-size:12px;word-break:break-all}
.sev{font-weight:bold;text-transform:uppercase}.critical{color:#8e0a8e}.high{color:#c00}
.medium{color:#a60}.low{color:#077}.hidden{display:none}#filters label{margin-right:1em}
tr.unscanned td:nth-child(3),tr.no-text td:nth-child(3){font-weight:bold;color:#c00}
"""

_JS = """
(function () {
  'use strict';
  function checked(name) {
    return Array.prototype.filter.call(document.querySelectorAll('input[name="' + name + '"]'),
      function (box) { return box.checked; }).map(function (box) { return box.value; });
  }
  function apply() {
    var sevs = checked('severity'), pols = checked('policy'), shown = 0;
    document.querySelectorAll('tr.finding').forEach(function (row) {
      var on = sevs.indexOf(row.dataset.severity) >= 0 && pols.indexOf(row.dataset.policy) >= 0;
      row.classList.toggle('hidden', !on);
      if (on) { shown += 1; }
    });
    document.querySelectorAll('div.file').forEach(function (div) {
      div.classList.toggle('hidden', !div.querySelector('tr.finding:not(.hidden)'));
    });
    document.getElementById('shown').textContent = String(shown);
  }
  function fromHash() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    ['severity', 'policy'].forEach(function (name) {
      if (!params.has(name)) { return; }
      var wanted = params.get(name).split(',');
      document.querySelectorAll('input[name="' + name + '"]').forEach(function (box) {
        box.checked = wanted.indexOf(box.value) >= 0;
      });
    });
  }
  document.querySelectorAll('#filters input').forEach(function (box) {
    box.addEventListener('change', apply);
  });
  window.addEventListener('hashchange', function () { fromHash(); apply(); });
  fromHash();
  apply();
}());
"""


def _e(value: object) -> str:
    """HTML-escaped text; undecodable path bytes and control characters (a newline or an escape sequence
    in a file name) become visible escapes like in the text report, never an error."""
    return html.escape(printable(str(value)), quote=True)


def _where(path: str, member: str | None) -> str:
    return f"{path}!{member}" if member else path


class HtmlReporter:
    """Collects verdicts and errors; writes the whole page at ``close``."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.findings: dict[str, list[Finding]] = defaultdict(list)
        self.errors: list[ExtractError] = []
        self.records: list[FileRecord] = []

    def verdict(self, verdict: Verdict) -> None:
        for f in verdict.findings:
            self.findings[verdict.path].append(f)
        self.errors.extend(verdict.errors)
        self.records.extend(verdict.files)

    def error(self, error: ExtractError) -> None:
        self.errors.append(error)

    def close(self, summary: dict[str, object]) -> None:
        every = [f for fs in self.findings.values() for f in fs]
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Dropwarden scan report</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>Dropwarden scan report</h1>",
            self._totals(summary, len(every)),
            self._summary(every),
            self._filters(every),
            self._files(),
            self._unscanned(),
            self._inventory(),
            f"<script>{_JS}</script></body></html>",
        ]
        self.out.write("\n".join(parts) + "\n")
        self.out.flush()

    @staticmethod
    def _totals(summary: dict[str, object], total: int) -> str:
        return (
            f'<p id="totals">{_e(summary.get("files", 0))} files, {_e(summary.get("bytes", 0))} bytes '
            f"scanned in {_e(summary.get('seconds', 0))} s: {total} finding(s), "
            f'<span id="shown">{total}</span> shown; {_e(summary.get("errors", 0))} not fully read.</p>'
        )

    @staticmethod
    def _count_table(title: str, key: str, counts: Mapping[str, int], order: Sequence[str]) -> str:
        rows = "".join(
            f'<tr><td class="{_e(k) if key == "severity" else ""}">{_e(k)}</td><td>{n}</td></tr>'
            for k, n in ((k, counts.get(k, 0)) for k in order)
        )
        return f'<table id="by-{key}"><tr><th>{title}</th><th>findings</th></tr>{rows}</table>'

    def _summary(self, every: list[Finding]) -> str:
        sev: Counter[str] = Counter(str(f.severity) for f in every)
        pol = Counter(f.policy for f in every)
        zone = Counter(f.zone or "(none)" for f in every)
        severities = sorted(SEVERITIES, key=SEVERITY_RANK.__getitem__, reverse=True)
        return (
            "<h2>Summary</h2>"
            + self._count_table("severity", "severity", sev, severities)
            + self._count_table("policy", "policy", pol, sorted(pol))
            + self._count_table("zone", "zone", zone, sorted(zone))
        )

    @staticmethod
    def _filters(every: list[Finding]) -> str:
        sev = "".join(
            f'<label><input type="checkbox" name="severity" value="{s}" checked> {s}</label>'
            for s in sorted(SEVERITIES, key=SEVERITY_RANK.__getitem__, reverse=True)
        )
        pol = "".join(
            f'<label><input type="checkbox" name="policy" value="{_e(p)}" checked> {_e(p)}</label>'
            for p in sorted({f.policy for f in every})
        )
        return f'<div id="filters"><h2>Filter</h2><p>Severity: {sev}</p><p>Policy: {pol}</p></div>'

    def _files(self) -> str:
        if not self.findings:
            return '<h2>Findings</h2><p id="no-findings">No findings.</p>'
        out = ["<h2>Findings by file</h2>"]
        worst = lambda fs: max(SEVERITY_RANK[f.severity] for f in fs)  # noqa: E731
        for path, fs in sorted(self.findings.items(), key=lambda kv: (-worst(kv[1]), kv[0])):
            rows = "".join(self._row(f) for f in sorted(fs, key=lambda f: (f.member or "", f.line)))
            out.append(
                f'<div class="file" data-path="{_e(path)}"><h3>{_e(path)}</h3><table>'
                "<tr><th>severity</th><th>policy / rule</th><th>entity</th><th>member</th><th>line</th>"
                f"<th>excerpt (redacted)</th><th>fingerprint</th></tr>{rows}</table></div>"
            )
        return "".join(out)

    @staticmethod
    def _row(f: Finding) -> str:
        count = f" &times;{f.count}" if f.count > 1 else ""
        return (
            f'<tr class="finding" data-severity="{_e(f.severity)}" data-policy="{_e(f.policy)}">'
            f'<td class="sev {_e(f.severity)}">{_e(f.severity)}</td><td>{_e(f.policy)} / {_e(f.rule)}</td>'
            f"<td>{_e(f.entity)}{count}</td><td><code>{_e(f.member or '')}</code></td><td>{f.line}</td>"
            f"<td><code>{_e(f.excerpt)}</code></td><td><code>{_e(f.fingerprint[:24])}</code></td></tr>"
        )

    def _unscanned(self) -> str:
        if not self.errors:
            return '<h2>Not fully read</h2><p id="no-unscanned">Every file was read completely.</p>'
        rows = "".join(
            f'<tr class="unscanned"><td><code>{_e(_where(e.path, e.member))}</code></td>'
            f"<td>{_e(e.reason)}</td><td>{_e(e.detail)}</td></tr>"
            for e in sorted(self.errors, key=lambda e: (e.path, e.member or ""))
        )
        return (
            "<h2>Not fully read</h2><p>These files or members could not be read completely: "
            "they are <strong>not</strong> known to be clean.</p>"
            f'<table id="unscanned"><tr><th>file</th><th>reason</th><th>detail</th></tr>{rows}</table>'
        )

    def _inventory(self) -> str:
        """Every file and member: read (with its characters of text), no text expected, or not read and why.

        "no text" is a file or member that was read without error, holds no members and gave nothing (a
        blank page, a picture OCR found no words in): not an error, but listed apart so a reader sees
        what yielded nothing."""
        reasons: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        for e in self.errors:
            if e.reason not in reasons[(e.path, e.member)]:
                reasons[(e.path, e.member)].append(e.reason)
        known = {(r.path, r.member) for r in self.records}
        records = self.records + [  # errors on files with no record (one that could not be opened)
            FileRecord(path, member, "unknown", 0, "unscanned")
            for path, member in reasons
            if (path, member) not in known
        ]
        status = _statuses(records)
        order = sorted(
            range(len(records)),
            key=lambda i: (_STATUS_ORDER[status[i]], records[i].path, records[i].member or ""),
        )
        rows = "".join(
            _inventory_row(records[i], status[i], reasons.get((records[i].path, records[i].member), []))
            for i in order
        )
        counts = Counter(status)
        totals = "".join(f"<tr><td>{s}</td><td>{counts.get(s, 0)}</td></tr>" for s in _STATUS_ORDER)
        return (
            "<h2>Inventory</h2><p>Every file and archive member, and what was read from it.</p>"
            f'<table id="inventory-totals"><tr><th>status</th><th>files and members</th></tr>{totals}</table>'
            '<table id="inventory"><tr><th>file</th><th>format</th><th>status</th><th>characters</th>'
            f"<th>reason</th></tr>{rows}</table>"
        )


#: Inventory statuses, unread first: what a reader of the report must look at comes on top.
_STATUS_ORDER = {"unscanned": 0, "no-text": 1, "read": 2, "no-text-expected": 3}


def _inventory_row(r: FileRecord, status: str, reasons: list[str]) -> str:
    return (
        f'<tr class="{status}" data-status="{status}" data-format="{_e(r.format)}">'
        f"<td><code>{_e(_where(r.path, r.member))}</code></td><td>{_e(r.format)}</td><td>{status}</td>"
        f"<td>{r.chars}</td><td>{_e(', '.join(reasons))}</td></tr>"
    )


def _statuses(records: list[FileRecord]) -> list[str]:
    """Each record's status as shown; a container (an archive, a mailbox) reads as its members do."""
    parents: set[tuple[str, str | None]] = {(r.path, None) for r in records if r.member is not None}
    for r in records:
        chain = (r.member or "").split("!")
        parents.update((r.path, "!".join(chain[:n])) for n in range(1, len(chain)))
    out = []
    for r in records:
        if r.status == "read" and r.chars == 0 and (r.path, r.member) not in parents:
            out.append("no-text")
        else:
            out.append(r.status.replace("_", "-"))
    return out
