"""No input reaches a 5xx: every integer the API takes is bounded and strict.

Both tests read the integers to try from the OpenAPI document itself, so a parameter or spec
field added later is swept too (the fuzzer in test_openapi.py finds such bugs by chance; these
find them every time).
"""

from __future__ import annotations

import json
from typing import Any

from support.client import small_job

# Past 64 bits, on both sides, and far past: what overflowed the events cursor (issue #8).
HUGE = (2**63, -(2**63) - 1, 10**30, -(10**30))
NOT_INTEGERS = (True, False, "3", 1.5, 10.0**30)


def _integer(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The integer branch of a (possibly nullable) schema, or None if it takes no integer."""
    if schema.get("type") == "integer":
        return schema
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "integer":
            return dict(branch)
    return None


def _parameters(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, name, integer schema) of every integer query parameter."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                integer = _integer(parameter["schema"])
                if integer is not None and parameter["in"] == "query":
                    found.append((method, path, parameter["name"], integer))
    return found


def test_integer_parameters_refuse_what_they_cannot_hold(alice) -> None:  # type: ignore[no-untyped-def]
    job = alice.post("/v1/jobs", json=small_job()).json()
    alice.wait(job["id"])  # finished, so its live stream ends at once
    document = alice.get("/openapi.json").json()
    swept = _parameters(document)
    assert ("get", "/v1/jobs/{job_id}/events", "after") in {(m, p, n) for m, p, n, _ in swept}
    for method, path, name, schema in swept:
        url = path.format(job_id=job["id"], model_id="mdl_none", dataset_id="ds_none",
                          webhook_id="wh_none")  # fmt: skip
        outside = [*HUGE]
        if "minimum" in schema:
            outside.append(int(schema["minimum"]) - 1)
        if "maximum" in schema:
            outside.append(int(schema["maximum"]) + 1)
        for value in outside:
            answer = alice.request(method.upper(), url, params={name: str(value)})
            assert answer.status_code == 422, (method, path, name, value, answer.text)
            assert answer.json()["error"]["field"] == name


def test_a_huge_last_event_id_replays_nothing_and_ends(alice) -> None:  # type: ignore[no-untyped-def]
    job = alice.post("/v1/jobs", json=small_job()).json()
    alice.wait(job["id"])
    # "²" (latin-1 on the wire) is a digit to str.isdigit() but not to int()
    for value in (str(2**63).encode(), b"9" * 30, b"-1", "²".encode("latin-1")):
        with alice.stream("GET", f"/v1/jobs/{job['id']}/events/stream",
                          headers={"Last-Event-ID": value}) as stream:  # fmt: skip
            assert stream.status_code == 200
            body = stream.read().decode()
        assert "event: end" in body, (value, body)


def _spec_integers(document: dict[str, Any]) -> list[tuple[list[str], dict[str, Any], str | None]]:
    """(path in the spec, integer schema, method kind) of every integer field of a job spec."""
    schemas = document["components"]["schemas"]
    found: list[tuple[list[str], dict[str, Any], str | None]] = []

    def walk(schema: dict[str, Any], path: list[str], kind: str | None) -> None:
        if "$ref" in schema:
            walk(schemas[schema["$ref"].rsplit("/", 1)[1]], path, kind)
            return
        for variant in schema.get("oneOf", []):  # the method kinds
            name = variant["$ref"].rsplit("/", 1)[1]
            walk(variant, path, schemas[name]["properties"]["kind"]["const"])
        integer = _integer(schema)
        if integer is not None:
            found.append((path, integer, kind))
        for field, sub in schema.get("properties", {}).items():
            walk(sub, [*path, field], kind)
        for branch in schema.get("anyOf", []):
            if "$ref" in branch:
                walk(branch, path, kind)

    walk(schemas["JobSpec"], [], None)
    return found


def test_every_integer_of_a_job_spec_is_strict_and_bounded(alice) -> None:  # type: ignore[no-untyped-def]
    document = alice.get("/openapi.json").json()
    fields = _spec_integers(document)
    names = {".".join(path) for path, _, _ in fields}
    assert {"hyperparameters.seed", "hyperparameters.epochs", "dataset.seed",
            "method.input_size", "method.canvas_size"} <= names  # fmt: skip
    for path, _, kind in fields:
        for value in (*NOT_INTEGERS, *HUGE):
            spec = json.loads(json.dumps(small_job()))
            if kind is not None:
                spec["method"] = {"kind": kind}
            target = spec
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = value
            answer = alice.post("/v1/jobs", json=spec)
            assert answer.status_code == 422, (path, value, answer.text)
            assert answer.json()["error"]["field"] == ".".join(path), (path, value, answer.text)
