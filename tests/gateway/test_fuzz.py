"""Fuzz the HTTP API from the OpenAPI description the gateway serves: never a 5xx, nothing lost.

Bodies are drawn from the served JSON schemas (``from_schema`` below covers the keywords the
description uses), then get mangled: fields dropped, replaced by other JSON values, or the
body swapped for arbitrary JSON or bytes. Every chat
completions request must leave exactly one record in the log, whatever it carried.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
from conftest import gateway_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.openai_upstream import FakeOpenAI
from llmtriage.gateway.app import create_app
from llmtriage.gateway.auth import hash_key
from llmtriage.gateway.server import BackgroundServer

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema`` (object/array/string/number/integer/boolean/null, enum,
    anyOf, required, minItems, minLength, minimum/maximum); optional keys come and go."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        props = {k: from_schema(v) for k, v in schema.get("properties", {}).items()}
        required = {k: props.pop(k) for k in schema.get("required", [])}
        extra = st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=2)
        return st.builds(
            lambda req, opt, more: {**more, **req, **opt},
            st.fixed_dictionaries(required),
            st.fixed_dictionaries({}, optional=props),
            extra if not props and not required else st.just({}),
        )
    if kind == "array":
        items = from_schema(schema.get("items", {}))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=4)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=40)
    if kind in ("number", "integer"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if kind == "integer":
            return st.integers(min_value=lo, max_value=hi)
        return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON_VALUES


MODELS = st.sampled_from(["triage/auto", "triage/small", "small-1", "big-1", "nope"])


def _pick(body: dict[str, Any], data: st.DataObject) -> tuple[Any, Any]:
    """A random (container, key) inside ``body``, possibly nested (messages[0].content...)."""
    node: Any = body
    key: Any = data.draw(st.sampled_from(sorted(body)))
    while isinstance(node[key], dict | list) and node[key] and data.draw(st.booleans()):
        node = node[key]
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
    return node, key


def _mangle(body: Any, data: st.DataObject) -> Any:
    """Sometimes break a valid body: drop a field, retype a field, or replace the whole."""
    how = data.draw(st.sampled_from(["keep", *["model"] * 4, "drop", "retype", "json", "bytes"]))
    if not isinstance(body, dict) or how == "keep":
        return body
    body = dict(body)
    if how == "model" and "messages" in body:
        body["model"] = data.draw(MODELS)
    elif how in ("drop", "retype") and body:
        body = copy.deepcopy(body)
        node, key = _pick(body, data)
        if how == "drop" and isinstance(node, dict):
            del node[key]
        else:
            node[key] = data.draw(JSON_VALUES)
    elif how == "json":
        return data.draw(JSON_VALUES)
    elif how == "bytes":
        return data.draw(st.binary(max_size=64))
    return body


def test_fuzz_never_5xx_and_logs_every_request(stack: Any) -> None:
    spec = httpx.get(stack.base_url + "/openapi.json", trust_env=False).json()
    posts = {
        path: op["post"]["requestBody"]["content"]["application/json"]["schema"]
        for path, op in spec["paths"].items()
        if "post" in op and not path.startswith("/v1/admin/")
    }
    assert set(posts) == {"/v1/chat/completions", "/v1/route", "/v1/feedback"}
    sent = {"chat": 0, "total": 0}
    statuses: Counter[int] = Counter()
    client = httpx.Client(base_url=stack.base_url, trust_env=False, timeout=30)
    headers = st.sampled_from(
        [
            {"content-type": "application/json"},
            {"content-type": "text/plain", "x-triage-session-id": "s"},
            {"authorization": "Bearer nonsense", "content-type": "application/json"},
            {"content-length": "5", "content-type": "application/json"},
        ]
    )

    def check(path: str, strategy: Any, n: int) -> None:
        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(body=strategy, data=st.data(), hdrs=headers)
        def run(body: Any, data: st.DataObject, hdrs: dict[str, str]) -> None:
            mangled = _mangle(body, data)
            raw = mangled if isinstance(mangled, bytes) else json.dumps(mangled).encode()
            h = dict(hdrs)
            if "content-length" in h:
                h["content-length"] = str(len(raw))
            status = client.post(path, content=raw, headers=h).status_code
            sent["total"] += 1
            statuses[status] += 1
            sent["chat"] += path == "/v1/chat/completions"
            assert status < 500, (path, mangled, status)

        run()

    for path, schema in posts.items():
        n = 1000 if path == "/v1/chat/completions" else 500
        check(path, from_schema(schema), n)
    client.close()
    assert sent["total"] >= 2000
    assert statuses[200] >= 100 and statuses[400] >= 100 and statuses[404] >= 20, statuses
    for _ in range(200):  # every completions request is in the log, once
        with sqlite3.connect(stack.db) as con:
            (rows,) = con.execute("SELECT count(*) FROM requests").fetchone()
        if rows >= sent["chat"]:
            break
        time.sleep(0.05)
    assert rows == sent["chat"]


def test_fuzz_admin_key_creation_never_5xx(tmp_path: Path) -> None:
    admin = "lt-fuzz-admin-key-0123456789"
    auth = {"admin_key_hash": hash_key(admin)}
    with FakeOpenAI() as upstream:
        app = create_app(gateway_config(upstream.base_url, tmp_path / "log.db", auth=auth))
        with BackgroundServer(app) as server:
            headers = {"authorization": f"Bearer {admin}", "content-type": "application/json"}
            client = httpx.Client(base_url=server.base_url, headers=headers, timeout=30)
            spec = client.get("/openapi.json").json()["paths"]["/v1/admin/keys"]
            schema = spec["post"]["requestBody"]["content"]["application/json"]["schema"]
            statuses: Counter[int] = Counter()

            @settings(max_examples=400, deadline=None, database=None)
            @given(body=from_schema(schema), data=st.data())
            def run(body: Any, data: st.DataObject) -> None:
                mangled = _mangle(body, data)
                raw = mangled if isinstance(mangled, bytes) else json.dumps(mangled).encode()
                status = client.post("/v1/admin/keys", content=raw).status_code
                statuses[status] += 1
                assert status < 500, (mangled, status)

            run()
            listed = client.get("/v1/admin/keys")
            client.close()
    assert statuses[201] >= 20 and statuses[400] >= 20, statuses
    assert listed.status_code == 200 and len(listed.json()["keys"]) == statuses[201]
