"""Schemathesis against a served OpenAPI document, with every phase that ``st run`` has: the
document's examples; the coverage phase (boundary values, values that break the schema, missing and
extra parameters, methods the document does not declare); fuzzing in positive and negative modes;
stateful sequences. Every check runs on every answer. Each request sent is kept with its answer, so
that the tests count them and check every answer against the document themselves as well."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.engine import events, from_schema

from tests.openapi import OpenApi


@dataclass(frozen=True)
class Answer:
    """A request the fuzzer sent and what came back."""

    case_id: str
    #: The phase that made the request (examples, coverage, fuzzing, stateful) and how: positive
    #: (valid by the document) or negative (breaking it on purpose).
    phase: str
    mode: str
    method: str
    path: str
    sent: bytes
    status: int
    content_type: str
    body: bytes
    #: How to send the request again.
    curl: str

    @property
    def error(self) -> dict[str, Any]:
        """The error object of an answer in the documents' error shape; empty for anything else."""
        try:
            error = json.loads(self.body).get("error")
        except (ValueError, AttributeError):
            return {}
        return error if isinstance(error, dict) else {}

    def __str__(self) -> str:
        return f"{self.status} {self.content_type} {self.body[:300]!r}\n    {self.curl[:1000]}"


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

#: Whether a failed check is a departure the caller explains: the check's name, the failing answer.
Explained = Callable[[str, Answer], bool]


@dataclass
class Campaign:
    #: Every request the fuzzer sent with its answer, in order.
    answers: list[Answer] = field(default_factory=list)
    #: Every failed check (that the caller did not explain), with the answer that failed it.
    failures: list[str] = field(default_factory=list)
    #: What kept the fuzzer from testing something (a request without an answer, an unusable schema).
    errors: list[str] = field(default_factory=list)
    #: The operations a phase skipped, and why.
    skipped: list[str] = field(default_factory=list)
    #: Why the run stopped: ``completed`` once every phase ran to its end.
    stop_reason: str = ""

    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)

    def uncalled(self, document: OpenApi, served_at: str) -> set[tuple[str, str]]:
        """The document's operations that no request reached, but the one serving the document at
        ``served_at``, which Schemathesis leaves out."""
        called = {(document.spec_path(a.path), a.method.lower()) for a in self.answers}
        documented = {
            (path, method)
            for path, item in document.spec["paths"].items()
            for method in item
            if method in HTTP_METHODS and (path, method) != (served_at, "get")
        }
        return documented - called

    def off_document(self, document: OpenApi) -> list[str]:
        """Each answer that the document does not describe (status, content type, body), and why."""
        wrong = []
        for answer in self.answers:
            try:
                document.check(answer.path, answer.method, answer.status, answer.content_type, answer.body)
            except (AssertionError, ValueError) as exc:
                wrong.append(f"{exc}\n    {answer}")
        return wrong


def run(document_url: str, settings: dict[str, Any], explained: Explained) -> Campaign:
    """Fuzz the API whose document is served at ``document_url``. ``settings`` is Schemathesis's
    configuration (the keys of a ``schemathesis.toml``); a failed check that ``explained`` accepts
    is left out of the failures."""
    schema = schemathesis.openapi.from_url(document_url, config=schemathesis.Config.from_dict(settings))
    campaign = Campaign()
    by_case: dict[str, Answer] = {}

    @schema.hook
    def after_call(context: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
        request = response.request
        body = request.body or b""
        answer = Answer(
            case_id=case.id,
            phase=case.meta.phase.name.value if case.meta else "",
            mode=case.meta.generation.mode.value if case.meta else "",
            method=request.method,
            path=request.path_url.split("?", 1)[0],
            sent=body.encode() if isinstance(body, str) else body,
            status=response.status_code,
            content_type=",".join(response.headers.get("content-type", [])),
            body=response.content,
            curl=case.as_curl_command(),
        )
        campaign.answers.append(answer)
        by_case[case.id] = answer

    @schema.hook
    def filter_failure(context: schemathesis.HookContext, failure: Any, case: Any, response: Any) -> bool:
        # A check's own probe (ignored_auth resends without credentials) is not kept: its parent is.
        answer = by_case.get(failure.case_id or case.id) or by_case.get(case.id)
        check = failure.checks[0] if failure.checks else type(failure).__name__
        if answer is not None and explained(check, answer):
            return False
        campaign.failures.append(
            f"{failure.operation} [{check}] {failure.title}: {failure.message}\n    {answer}"
        )
        return True

    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.skip_reason:
            campaign.skipped.append(f"{event.recorder.label} ({event.phase.value}): {event.skip_reason}")
        elif isinstance(event, events.NonFatalError):
            campaign.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            campaign.errors.append(f"{type(event.exception).__name__}: {event.exception}")
        elif isinstance(event, events.EngineFinished):
            campaign.failures += [f"{f.operation}: {f.title}: {f.message}" for f in event.failures]
            campaign.stop_reason = str(event.stop_reason)
    return campaign


#: The statuses that refuse a request which breaks the document (413, 414 and 431 as surely as 400).
REFUSALS = ["400", "401", "403", "404", "405", "409", "413", "414", "415", "422", "429", "431"]


def settings(*, examples: int, dictionaries: dict[str, list], bound: dict[str, str], **more: Any) -> dict:
    """The Schemathesis configuration of both campaigns: one worker, a fixed seed and derandomized
    generation (the same requests on every run for the same market), no example database, every
    check, every phase, ``examples`` cases per operation and phase. ``dictionaries`` are values the
    market really has (datatokens, a job id); ``bound`` names the parameters that draw from them, half
    of the time (the other half is generated), as ``{"path.job_id": "jobs"}``."""
    return {
        "seed": 20261205,
        "workers": 1,
        "continue-on-failure": True,
        "request-timeout": 30,
        "cache": {"enabled": False},
        "generation": {"deterministic": True, "database": "none", "max-examples": examples},
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
        "dictionaries": {name: {"values": values} for name, values in dictionaries.items()},
        "parameters": {name: {"dictionary": source, "probability": 0.5} for name, source in bound.items()},
        **more,
    }
