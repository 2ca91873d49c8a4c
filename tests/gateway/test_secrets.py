"""No secret (provider key, client key, admin key) reaches a response, a log or the database."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from conftest import gateway_config

from fakes.openai_upstream import FakeOpenAI
from llmtriage.gateway.app import create_app
from llmtriage.gateway.auth import hash_key
from llmtriage.gateway.server import BackgroundServer

PROVIDER = "sk-provider-secret-0123456789abcdef"
CLIENT = "lt-client-secret-0123456789abcdef"
ADMIN = "lt-admin-secret-0123456789abcdef"


def test_no_secret_in_responses_logs_or_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FAKE_PROVIDER_KEY", PROVIDER)
    db = tmp_path / "log.db"
    auth = {"keys": [{"name": "team", "hash": hash_key(CLIENT)}], "admin_key_hash": hash_key(ADMIN)}
    seen: list[str] = []
    with FakeOpenAI() as upstream:
        cfg = gateway_config(upstream.base_url, db, auth=auth, store={"url": f"sqlite:///{db}"})
        data = cfg.model_dump(exclude_none=True)
        for m in data["models"]:
            m["api_key_env"] = "FAKE_PROVIDER_KEY"
        cfg = type(cfg).model_validate(data)
        with BackgroundServer(create_app(cfg)) as server, contextlib.ExitStack() as stack:
            client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=CLIENT, max_retries=0)
            stack.callback(client.close)
            ok = client.chat.completions.with_raw_response.create(
                model="triage/auto", messages=[{"role": "user", "content": "hello"}]
            )
            seen += [ok.http_response.text, str(ok.headers)]
            for stream in (False, True):  # the upstream quotes the key it refuses
                with pytest.raises(openai.APIStatusError) as err:
                    r = client.chat.completions.create(
                        model="small-1",
                        messages=[{"role": "user", "content": "[echo-auth]"}],
                        stream=stream,
                    )
                    list(r)  # type: ignore[call-overload]
                assert err.value.status_code == 502
                seen += [err.value.response.text, str(err.value.response.headers)]
            admin = {"authorization": f"Bearer {ADMIN}"}
            for path in ("/v1/admin/keys", "/v1/admin/spend", "/healthz", "/metrics"):
                seen.append(httpx.get(server.base_url + path, headers=admin).text)
            made = httpx.post(server.base_url + "/v1/admin/keys", headers=admin, json={"name": "x"})
            new_key = made.json()["key"]
        assert upstream.received[0]["headers"]["Authorization"] == f"Bearer {PROVIDER}"
    out, err_text = capfd.readouterr()
    places = {"responses": "\n".join(seen), "logs": caplog.text + out + err_text}
    places |= {p.name: p.read_bytes().decode("latin-1") for p in tmp_path.glob("log.db*")}
    assert "Incorrect API key provided: Bearer ***" in places["responses"]  # scrubbed, not lost
    for name, text in places.items():
        for secret in (PROVIDER, CLIENT, ADMIN, new_key):
            assert secret not in text, f"{secret[:12]}... found in {name}"
