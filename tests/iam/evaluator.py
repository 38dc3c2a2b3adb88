"""A small, explicit evaluator: does one identity policy allow one request?

It implements the part of AWS's documented policy evaluation logic that Backstop's policy
uses, and refuses (raises) anything else, so a policy change that needs more semantics fails
loudly instead of being evaluated wrongly:

- an explicit Deny wins; otherwise any Allow allows; otherwise the request is implicitly denied;
- Action / NotAction with `*` and `?` wildcards, case-insensitive;
- Resource / NotResource: ARNs compared segment by segment (partition, service, region,
  account), then the resource part as a whole, `*` and `?` wildcards, case-sensitive;
- Condition: every operator block and every key in it must hold (AND); several values for
  one key are alternatives (OR). Operators: StringEquals, StringLike, ArnLike, Bool, Null,
  and the ForAllValues: / ForAnyValue: set qualifiers. A single-valued operator on a key the
  request does not carry is false; ForAllValues on a missing key is TRUE (AWS's documented
  pitfall), ForAnyValue on a missing key is false; Null "true" means "the key is absent".
- Condition key names are case-insensitive; values are case-sensitive (Bool excepted).

What it does not model: policy variables (`${...}`), IfExists, negated and numeric/date
operators, resource-based policies, SCPs, permission boundaries and session policies. A
request is what AWS authorizes, not an API call: one call may need several authorizations
(see `tests/iam/calls.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

Decision = Literal["allow", "explicit-deny", "implicit-deny"]
ContextValue = str | Sequence[str]


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource, with the request context keys AWS sets."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    decision: Decision
    allowed_by: tuple[str, ...]
    denied_by: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


def evaluate(policy: Mapping[str, Any], request: Request) -> Result:
    allowed_by: list[str] = []
    denied_by: list[str] = []
    for index, statement in enumerate(_statements(policy)):
        if _applies(statement, request):
            sid = statement.get("Sid", f"#{index}")
            if statement["Effect"] == "Deny":
                denied_by.append(sid)
            elif statement["Effect"] == "Allow":
                allowed_by.append(sid)
            else:
                raise ValueError(f"statement {sid}: Effect must be Allow or Deny")
    if denied_by:
        decision: Decision = "explicit-deny"
    elif allowed_by:
        decision = "allow"
    else:
        decision = "implicit-deny"
    return Result(decision, tuple(allowed_by), tuple(denied_by))


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy["Statement"]
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _one_of(statement: Mapping[str, Any], positive: str, negative: str) -> tuple[list[str], bool]:
    if (positive in statement) == (negative in statement):
        raise ValueError(f"statement {statement.get('Sid')}: exactly one of {positive}/{negative}")
    if positive in statement:
        return _listed(statement[positive]), False
    return _listed(statement[negative]), True


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    actions, not_action = _one_of(statement, "Action", "NotAction")
    if any(_like(a, request.action, ignore_case=True) for a in actions) == not_action:
        return False
    resources, not_resource = _one_of(statement, "Resource", "NotResource")
    if any(_arn_like(r, request.resource) for r in resources) == not_resource:
        return False
    context = {key.lower(): _listed(value) for key, value in request.context.items()}
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition(operator, _listed(expected), context.get(key.lower())):
                return False
    return True


def _condition(operator: str, expected: list[str], actual: list[str] | None) -> bool:
    if any("${" in value for value in expected):
        raise NotImplementedError(f"policy variables are not modelled: {expected!r}")
    qualifier, _, base = operator.rpartition(":")
    if base == "Null" and not qualifier:
        (flag,) = expected
        return (not actual) == (flag.lower() == "true")
    match = _MATCHERS.get(base)
    if match is None:
        raise NotImplementedError(f"condition operator {operator!r} is not modelled")
    if qualifier == "ForAllValues":
        return all(any(match(e, a) for e in expected) for a in actual or [])
    if qualifier == "ForAnyValue":
        return any(any(match(e, a) for e in expected) for a in actual or [])
    if qualifier:
        raise NotImplementedError(f"set qualifier {qualifier!r} is not modelled")
    if not actual:
        return False
    if len(actual) != 1:
        raise ValueError(f"{operator} on a multivalued key needs ForAllValues: or ForAnyValue:")
    return any(match(e, actual[0]) for e in expected)


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise NotImplementedError(f"policy variables are not modelled: {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, arn: str) -> bool:
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(_like(w, g) for w, g in zip(wanted, given, strict=True))


_MATCHERS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": lambda expected, actual: _like(expected, actual),
    "ArnLike": _arn_like,
    "Bool": lambda expected, actual: expected.lower() == actual.lower(),
}
