"""Run the gateway with uvicorn (uvloop + httptools when available)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

import uvicorn

from llmtriage.config import Config
from llmtriage.exceptions import ConfigError
from llmtriage.gateway.app import create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(config: Config, host: str, insecure: bool) -> None:
    """Refuse to expose a keyless gateway beyond loopback unless told to."""
    keyless = not config.auth.keys and config.auth.admin_key_hash is None
    if keyless and not is_loopback(host) and not insecure:
        raise ConfigError(
            "auth.keys",
            f"no API keys configured; refusing to listen on {host} (not loopback). "
            "Add auth.keys or pass --insecure",
        )


def uvicorn_config(app: Any, sock: socket.socket | None = None, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, loop="auto", http="auto", access_log=False, log_level="warning", lifespan="on", **kw
    )


def serve(config: Config, host: str, port: int, insecure: bool = False) -> None:
    check_exposure(config, host, insecure)
    run(create_app(config), config, host, port)


def run(app: Any, config: Config, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; then drain for up to ``gateway.shutdown_timeout_s``."""
    grace = config.gateway.shutdown_timeout_s
    server_config = uvicorn_config(app, host=host, port=port, timeout_graceful_shutdown=grace)
    uvicorn.Server(server_config).run()


class BackgroundServer:
    """The gateway on a free loopback port in a thread (demo, tests, benchmarks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        for _ in range(1000):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError("the gateway did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
