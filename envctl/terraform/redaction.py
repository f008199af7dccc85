"""Keep secrets out of everything envctl writes (comments, JSON, logs, job summaries, errors).

Three sources, applied together by one Redactor:
- values Terraform marks sensitive. `terraform show -json` carries them in clear text and marks
  them only in `before_sensitive`/`after_sensitive` (resources), `output_changes[*]` and the
  sensitive flag of variables; `sensitive_values()` walks those masks and collects the values;
- sensitive outputs, from the same plan JSON;
- regular expressions: built-in ones for common token and key shapes, plus the configured
  `terraform.redact_patterns`, applied to the text plan and to terraform's stderr.

- the secrets envctl itself holds (its webhook secret, GitHub token and App key, the project's
  credentials: environment.held_secrets), with their common encodings: base64 (standard and
  URL-safe, at each of the three byte alignments a value can have inside a longer encoded
  stream), hex (both cases) and URL-encoding. A pull request's plan can read envctl's
  environment (`file("/proc/<pid>/environ")`) and print it encoded; redaction is the last line.

Short values (under MIN_SECRET characters) are not searched for as values: replacing every "1"
or "true" would destroy the plan without protecting anything (Terraform masks them in its own
text output anyway).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

MASK = "***"
MIN_SECRET = 4
BUILTIN_PATTERNS = (
    r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{40,}",
    r"(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z0-9]{16}",  # AWS access key ids
    r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"(?i)(?<=password=)[^\s&\"']+",
)
# A literal (lower case) each built-in pattern needs: a pattern whose literal is absent is skipped,
# which keeps a 600,000-character plan's redaction in milliseconds.
_HINTS = {BUILTIN_PATTERNS[1]: "github_pat_", BUILTIN_PATTERNS[4]: "private key", BUILTIN_PATTERNS[5]: "password="}


def _leaves(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield str(value)


def _masked(value: Any, mask: Any) -> Iterator[str]:
    """Leaves of `value` where the parallel sensitivity `mask` says true."""
    if mask is True:
        yield from _leaves(value)
    elif isinstance(mask, dict) and isinstance(value, dict):
        for key, sub in mask.items():
            yield from _masked(value.get(key), sub)
    elif isinstance(mask, list) and isinstance(value, list):
        for item, sub in zip(value, mask):
            yield from _masked(item, sub)


def _state_values(module: dict[str, Any] | None) -> Iterator[str]:
    if not module:
        return
    for resource in module.get("resources") or ():
        yield from _masked(resource.get("values"), resource.get("sensitive_values"))
    for child in module.get("child_modules") or ():
        yield from _state_values(child)


def sensitive_values(plan: dict[str, Any]) -> set[str]:
    """Every value a `terraform show -json` document marks sensitive, as text."""
    found: set[str] = set()
    for rc in plan.get("resource_changes") or ():
        change = rc.get("change") or {}
        found.update(_masked(change.get("before"), change.get("before_sensitive")))
        found.update(_masked(change.get("after"), change.get("after_sensitive")))
    for rc in plan.get("resource_drift") or ():
        change = rc.get("change") or {}
        found.update(_masked(change.get("before"), change.get("before_sensitive")))
        found.update(_masked(change.get("after"), change.get("after_sensitive")))
    for change in (plan.get("output_changes") or {}).values():
        found.update(_masked(change.get("before"), change.get("before_sensitive")))
        found.update(_masked(change.get("after"), change.get("after_sensitive")))
    for output in ((plan.get("planned_values") or {}).get("outputs") or {}).values():
        if output.get("sensitive"):
            found.update(_leaves(output.get("value")))
    prior = (plan.get("prior_state") or {}).get("values") or {}
    for output in (prior.get("outputs") or {}).values():
        if output.get("sensitive"):
            found.update(_leaves(output.get("value")))
    found.update(_state_values(prior.get("root_module")))
    declared = ((plan.get("configuration") or {}).get("root_module") or {}).get("variables") or {}
    for name, spec in declared.items():
        if spec.get("sensitive"):
            found.update(_leaves(((plan.get("variables") or {}).get(name) or {}).get("value")))
            found.update(_leaves(spec.get("default")))
    return {v for v in found if len(v) >= MIN_SECRET}


MIN_FRAGMENT = 8  # an encoded fragment shorter than this would match ordinary text


def _spellings(value: str) -> set[str]:
    """How a value is written inside JSON (both escapings) and in terraform's quoted text."""
    escaped = json.dumps(value)[1:-1]
    return {value, escaped, json.dumps(value, ensure_ascii=False)[1:-1],
            escaped.replace("${", "$${").replace("%{", "%%{")}


def _base64_fragments(raw: bytes) -> set[str]:
    """The part of base64(… + raw + …) that depends on `raw` alone, for each alignment of `raw`.

    Inside a longer stream the value starts at byte offset 0, 1 or 2 of a 3-byte group; the
    characters of a group shared with neighbouring bytes differ, the rest do not."""
    out = set()
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + raw).decode()
        start = 4 if lead else 0
        end = (lead + len(raw)) // 3 * 4
        fragment = encoded[start:end]
        if len(fragment) >= MIN_FRAGMENT:
            out |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return out


def encodings(secret: str) -> set[str]:
    """A held secret in the encodings a hostile plan could print it in."""
    raw = secret.encode()
    out = {raw.hex(), raw.hex().upper(), *_base64_fragments(raw)}
    for quoted in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe=""),
                   urllib.parse.quote(secret)):
        out |= {quoted, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)}
    return {e for e in out if len(e) >= MIN_FRAGMENT} | _spellings(secret)


@functools.lru_cache(maxsize=256)
def _alternation(values: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(v) for v in values))


class Redactor:
    def __init__(self, patterns: Iterable[str] = (), values: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self.patterns = [re.compile(p) for p in (*BUILTIN_PATTERNS, *patterns)]
        self.values: set[str] = set()
        self._ordered: list[str] = []
        self.add(values)
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Values envctl holds: masked as themselves and in every encoding of encodings()."""
        self.add(e for s in secrets if len(s) >= MIN_SECRET for e in encodings(s))

    def add(self, values: Iterable[str]) -> None:
        fresh = {v for v in values if len(v) >= MIN_SECRET} - self.values
        if not fresh:
            return
        # the escaped spellings too, so a value inside a JSON document or the text plan is found as well
        self.values |= {e for v in fresh for e in _spellings(v)}
        # longest first: a value inside another is masked as part of the longer one
        self._ordered = sorted(self.values, key=len, reverse=True)

    def merged(self, other: Redactor) -> Redactor:
        out = Redactor()
        out.patterns = list({p.pattern: p for p in (*self.patterns, *other.patterns)}.values())
        out.add(self.values | other.values)
        return out

    def __call__(self, text: str) -> str:
        if not text:
            return text
        # `in` is a C scan per value; one alternation over all of them is ~8x slower on a big plan
        # (and compiling it for a few hundred values costs a quarter of a second)
        present = [v for v in self._ordered if v in text]
        if present:
            text = _alternation(tuple(present)).sub(MASK, text)
        lowered = text.lower() if len(text) > 4096 else None
        for pattern in self.patterns:
            hint = _HINTS.get(pattern.pattern)
            if hint is not None and lowered is not None and hint not in lowered:
                continue
            text = pattern.sub(MASK, text)
        return text

    def data(self, value: Any) -> Any:
        """A JSON-shaped value with every string redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
