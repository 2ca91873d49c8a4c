"""The gateway in front of an Anthropic-compatible upstream, called with the openai client.

Also checks that the provider's API key reaches the upstream and nothing else: not the
response, not the request log.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from fakes.anthropic_upstream import FakeAnthropic
from llmtriage import config
from llmtriage.gateway.app import create_app
from llmtriage.gateway.server import BackgroundServer

SECRET = "sk-ant-test-0123456789abcdef"


@pytest.fixture
def claude(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeAnthropic, openai.OpenAI, Path]]:
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", SECRET)
    with FakeAnthropic(api_key=SECRET) as upstream:
        cfg = config.parse(
            {
                "models": [
                    {
                        "name": "claude-x",
                        "provider": "anthropic",
                        "base_url": upstream.base_url,
                        "api_key_env": "FAKE_ANTHROPIC_KEY",
                        "upstream_model": "claude-up",
                        "price": {"input_per_mtok": 3, "output_per_mtok": 15},
                    }
                ],
                "tiers": [{"name": "frontier", "models": ["claude-x"]}],
                "store": {"url": f"sqlite:///{tmp_path / 'log.db'}", "prompt_storage": "full"},
            }
        )
        with BackgroundServer(create_app(cfg)) as server:
            client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
            yield upstream, client, tmp_path / "log.db"
            client.close()


def test_text_round_trip(claude: tuple[FakeAnthropic, openai.OpenAI, Path]) -> None:
    upstream, client, _ = claude
    upstream.reply_text("Bonjour")
    raw = client.chat.completions.with_raw_response.create(
        model="triage/auto",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "Bonjour"
    assert resp.choices[0].finish_reason == "stop"
    assert raw.headers["x-triage-model"] == "claude-x"
    sent = upstream.last.json
    assert sent["model"] == "claude-up" and sent["system"] == "be brief"
    assert upstream.last.headers["x-api-key"] == SECRET


def test_tool_use_and_streaming(claude: tuple[FakeAnthropic, openai.OpenAI, Path]) -> None:
    upstream, client, _ = claude
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    upstream.reply_tool_use("lookup", {"q": "llamas"})
    resp = client.chat.completions.create(
        model="claude-x", messages=[{"role": "user", "content": "find llamas"}], tools=tools
    )
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"q": "llamas"}
    assert upstream.last.json["tools"][0]["name"] == "lookup"
    upstream.reply_text("a streamed answer")
    stream = client.chat.completions.create(
        model="claude-x", messages=[{"role": "user", "content": "go"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "a streamed answer"
    )


def test_overload_is_retried_then_maps_to_502(
    claude: tuple[FakeAnthropic, openai.OpenAI, Path],
) -> None:
    upstream, client, _ = claude
    upstream.reply_error(529, "overloaded_error", "Overloaded").reply_text("second try")
    resp = client.chat.completions.create(
        model="claude-x", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "second try"
    for _ in range(2):  # the retry fails too: one model only, so a clean 502
        upstream.reply_error(529, "overloaded_error", "Overloaded")
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 502 and "529" in err.value.message
    assert "2 attempts" in err.value.message


def _logged_rows(db: Path, n: int) -> list[tuple[object, ...]]:
    for _ in range(200):
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT * FROM requests").fetchall()
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    return rows


def test_provider_key_never_leaves_the_upstream_call(
    claude: tuple[FakeAnthropic, openai.OpenAI, Path],
) -> None:
    upstream, client, db = claude
    upstream.reply_text("ok").reply_error(401, "authentication_error", f"bad key {SECRET}")
    raw = client.chat.completions.with_raw_response.create(
        model="claude-x", messages=[{"role": "user", "content": "hello"}]
    )
    assert SECRET not in raw.http_response.text and SECRET not in str(raw.headers)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "again"}]
        )
    assert SECRET not in str(err.value.body) and SECRET not in err.value.message
    rows = _logged_rows(db, 2)
    assert len(rows) == 2 and SECRET not in repr(rows)
    for path in db.parent.glob("log.db*"):  # the database and its WAL
        assert SECRET.encode() not in path.read_bytes(), path
