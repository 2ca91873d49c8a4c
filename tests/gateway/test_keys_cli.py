"""`llmtriage keys`: keys made on the command line reach a running gateway, and leave it."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import openai
import pytest
from conftest import gateway_config

from fakes.openai_upstream import FakeOpenAI
from llmtriage.cli import main
from llmtriage.gateway.app import create_app
from llmtriage.gateway.auth import hash_key
from llmtriage.gateway.server import BackgroundServer


def _keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keys", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_revoke_reach_a_running_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "log.db"
    store = f"sqlite:///{db}"
    code, out, _ = _keys(capsys, "create", "ops", "--store", store, "--budget-day", "5")
    assert code == 0
    key = out.strip()
    assert key.startswith("lt-") and len(key) > 40
    code, out, _ = _keys(capsys, "list", "--store", store)
    assert code == 0 and "ops" in out and "active" in out and '"budget_usd_per_day": 5.0' in out
    assert key not in out and hash_key(key) not in out  # neither the key nor its hash is shown
    assert key.encode() not in db.read_bytes()
    auth = {"keys": [{"name": "cfg", "hash": hash_key("lt-other")}], "refresh_s": 0.1}
    with FakeOpenAI() as upstream:
        app = create_app(gateway_config(upstream.base_url, db, auth=auth))
        with BackgroundServer(app) as server, contextlib.ExitStack() as stack:
            client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)
            stack.callback(client.close)
            msgs = [{"role": "user", "content": "hi"}]
            raw = client.chat.completions.with_raw_response.create(model="small-1", messages=msgs)  # type: ignore[arg-type]
            assert raw.parse().choices[0].message.content == "echo: hi"
            assert _keys(capsys, "revoke", "ops", "--store", store)[0] == 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the gateway re-reads its keys every 0.1 s
                try:
                    client.chat.completions.create(model="small-1", messages=msgs)  # type: ignore[arg-type]
                except openai.AuthenticationError:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the revoked key still works")
    code, out, _ = _keys(capsys, "list", "--store", store, "--all")
    assert "revoked" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["create", "--store", "sqlite:///:memory:"], "NAME"),
        (["create", "x", "--store", "sqlite:///:memory:", "--budget-day", "-1"], "--budget-day"),
        (["create", "x", "--store", "sqlite:///:memory:", "--rpm", "0"], "--rpm"),
        (["create", "x"], "--config"),
        (["revoke", "nobody", "--store", "sqlite:///:memory:"], "nobody"),
    ],
)
def test_bad_usage_exits_2_naming_the_problem(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    code, _, err = _keys(capsys, *argv)
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
