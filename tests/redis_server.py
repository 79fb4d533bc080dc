"""A redis-server of a test's own, to stop and restart mid-test (fault tests)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from redis.asyncio import Redis

from bot.infra.redis_client import REDIS_DOWN
from tests.conftest import service_missing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    def __init__(self, directory: Path, *, password: str | None = None) -> None:
        self.port = free_port()
        self.directory = directory
        self.password = password  # required of clients (requirepass), if set
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            service_missing("redis-server is not installed")
        assert server is not None
        self._process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory),
             *(["--requirepass", self.password] if self.password else [])],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_listening()

    def _wait_listening(self) -> None:
        """Return once the server accepts connections, so a test starts from "up"."""
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.025)
        raise AssertionError(f"redis-server did not listen on port {self.port}")

    def pause(self) -> None:
        """Hang the server (SIGSTOP): connections stay open and nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


async def ready(client: Redis) -> None:
    for _ in range(100):
        try:
            await client.ping()
            return
        except REDIS_DOWN:
            await asyncio.sleep(0.05)
    raise AssertionError("private redis-server did not start")
