"""Real processes for tests: `bookingcal` commands as an operator runs them (the installed
console script, its own process, output read line by line), free loopback ports, and waiting for
/healthz."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Sequence

import requests

BOOKINGCAL = Path(sys.executable).parent / "bookingcal"
STOP_SECONDS = 10


class Output:
    """A process's combined stdout/stderr, read line by line in a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: needle in "".join(self.lines), timeout)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environ(**extra: str) -> dict[str, str]:
    """The environment without BOOKINGCAL_* variables, plus `extra`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("BOOKINGCAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Running:
    """A started process and its output; `stop()` sends SIGTERM, then SIGKILL."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(
            self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8")
        assert self.process.stdout is not None
        self.output = Output(self.process.stdout)

    def failed(self) -> str | None:
        """The exit status and output if the process has ended."""
        if self.process.poll() is None:
            return None
        self.output.join(5)
        return f"{self.command} exited with {self.process.returncode}:\n{self.output.text}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        self.output.join(5)


def wait_healthy(url: str, running: Running, timeout: float, **get: object) -> None:
    """Wait until `url`/healthz answers 200; AssertionError with the output otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        failure = running.failed()
        if failure is not None:
            raise AssertionError(failure)
        try:
            response = requests.get(f"{url}/healthz", timeout=2, **get)  # type: ignore[arg-type]
            if response.status_code == 200:
                return
            last = (response.status_code, response.text)
        except requests.ConnectionError as exc:
            last = exc
        time.sleep(0.1)  # poll interval, bounded by the deadline
    raise AssertionError(f"{url}/healthz did not answer 200 within {timeout}s (last: {last!r}); "
                         f"output:\n{running.output.text}")


def bookingcal(config: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> str:
    """Run one `bookingcal --config CONFIG ARGS...` to its end; its output, or AssertionError."""
    result = subprocess.run([str(BOOKINGCAL), "--config", str(config), *args],
                            cwd=config.parent, env=env or clean_environ(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout
