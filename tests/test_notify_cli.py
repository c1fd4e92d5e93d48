"""`cockpit watch --notify` and `cockpit notify --test` as real subprocesses, delivering through
Apprise to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.notify_receivers import HttpReceiver, free_port


def cockpit(*args: str, env: dict[str, str] | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


class Watch:
    """`cockpit watch` in the background; its stderr lines read by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cockpit", "watch", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_line(self, words: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if words in line:
                return line

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        return out, "".join(self.stderr)


def healthy_lines(n: int) -> str:
    t = time.time()
    return "".join(json.dumps({"step": i, "loss": 3.0 - 0.01 * i, "ts": t - n + i}) + "\n"
                   for i in range(n))


def append(path: Path, text: str) -> float:
    with path.open("a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return time.time()


@pytest.mark.slow
def test_watch_notify_delivers_one_message_within_2s_of_the_nan_line(tmp_path):
    http = HttpReceiver().start()
    runs = tmp_path / "runs"
    for name in ("exp1", "exp2"):
        (runs / name).mkdir(parents=True)
        (runs / name / "metrics.jsonl").write_text(healthy_lines(30))
    watch = Watch(str(runs), "--db", str(tmp_path / "h.duckdb"),
                  "--notify", f"json://{http.url_base}/hook/cockpit")
    try:
        assert "notifying json://127.0.0.1" in watch.wait_line("notifying")
        watch.wait_line("watching")
        nan = json.dumps({"step": 30, "loss": float("nan"), "ts": time.time()}) + "\n"
        written = append(runs / "exp1" / "metrics.jsonl", nan)
        assert http.wait_for(1, timeout=30)
        delay = http.received[0].at - written
        # The same episode goes on (more NaN lines): no second message. A NaN in exp2 after
        # them is the next message, so exp1's lines were read before it.
        more = "".join(json.dumps({"step": s, "loss": float("nan"), "ts": time.time()}) + "\n"
                       for s in range(31, 40))
        append(runs / "exp1" / "metrics.jsonl", more)
        append(runs / "exp2" / "metrics.jsonl", nan)
        assert http.wait_for(2, timeout=30)
    finally:
        out, err = watch.stop()
        http.stop()
    print(f"NaN line written -> message received: {delay * 1000:.0f} ms")
    assert delay < 2.0, f"delivered {delay:.2f} s after the NaN line"
    titles = [r.json["title"] for r in http.received]
    assert titles == ["Cockpit · CRITICAL nan in exp1", "Cockpit · CRITICAL nan in exp2"], err
    body = http.received[0].json["message"]
    assert "detector: nan · step: 30" in body and "open: cockpit app --db" in body
    assert "--run exp1" in body
    assert http.received[0].path == "/hook/cockpit"
    assert "Traceback" not in err


@pytest.mark.slow
def test_notify_test_sends_a_sample_and_says_why_not(tmp_path):
    http = HttpReceiver().start()
    try:
        ok = cockpit("notify", "--test", f"json://{http.url_base}/hook")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == f"sent a sample alert to json://{http.url_base}/hook"
        assert http.wait_for(1)
        got = http.received[0].json
        assert got["title"] == "Cockpit · CRITICAL nan in example/run-7"
        assert "cockpit notify --test" in got["message"]
    finally:
        http.stop()
    down = cockpit("notify", "--test", f"json://127.0.0.1:{free_port()}/hook", "--timeout", "5")
    assert down.returncode == 1
    assert down.stderr.startswith("cockpit: could not deliver to json://127.0.0.1:")
    assert "Connection error" in down.stderr and down.stderr.count("\n") == 1
    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_UNSET_TOKEN"}
    for args, words in (
        (["notify", "--test", "json://u:{env:COCKPIT_UNSET_TOKEN}@127.0.0.1/x"],
         "environment variable COCKPIT_UNSET_TOKEN (named by {env:COCKPIT_UNSET_TOKEN}) is not set"),
        (["notify", "--test", "nosuch://x"], "is not a notification URL Apprise can use"),
        (["notify", "--test", "json://h?cockpit-severity=loud"], "severity 'loud'"),
        (["watch", str(tmp_path), "--notify", "slack"], "is not a URL"),
        (["watch", str(tmp_path), "--notify", "json://h", "--quiet-hours", "late"],
         "quiet hours 'late' are not HH:MM-HH:MM"),
    ):
        bad = cockpit(*args, env=env)
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith("cockpit: ") and bad.stderr.count("\n") == 1, bad.stderr
        assert words in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_watch_says_once_that_a_destination_is_down_and_what_was_not_delivered(tmp_path):
    runs = tmp_path / "runs"
    (runs / "exp").mkdir(parents=True)
    (runs / "exp" / "metrics.jsonl").write_text(
        healthy_lines(5) + json.dumps({"step": 5, "loss": float("nan"), "ts": time.time()}) + "\n")
    dead = f"json://127.0.0.1:{free_port()}/hook"
    out = cockpit("watch", str(runs), "--db", str(tmp_path / "h.duckdb"), "--once", "--json",
                  "--notify", dead)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["detector"] == "nan"
    lines = out.stderr.splitlines()
    failed = [line for line in lines if "failed" in line]
    assert len(failed) == 1 and failed[0].startswith(f"cockpit: notifications to {dead} failed")
    assert any(f"1 message(s) for {dead} were not delivered before exit" in line
               for line in lines), out.stderr
