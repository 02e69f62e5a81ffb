"""Sandbox control calls (clock advance, run a plan) wait for the server's answer: the
work is done before it answers, and a caller that gave up and retried would repeat it.
When the answer does not come, the error says so and warns against repeating."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from runbook_sandbox import clock
from runbook_sandbox.backup_ext import faults


class _Slow(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay)
        body = (
            b'{"start": "2030-01-01T00:00:00+00:00", "end": "2030-01-02T00:00:00+00:00", '
            b'"events": []}'
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.handle_error = lambda *a: None  # the caller that gave up closed the socket
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_control_calls_wait_far_longer_than_a_busy_day_takes():
    # a day of the demo estate took 30 s and more with the load average at 7
    assert faults.CONTROL_TIMEOUT >= 600


def test_an_advance_slower_than_the_old_30_s_limit_would_be_waited_for(slow_server, monkeypatch):
    server, url = slow_server
    _Slow.delay = 1.0
    monkeypatch.setattr(faults, "CONTROL_TIMEOUT", 3.0)
    moved = clock.advance("1d", endpoint_url=url)
    assert moved.end.year == 2030


def test_no_answer_in_time_is_said_with_a_warning_not_to_repeat(slow_server, monkeypatch):
    server, url = slow_server
    _Slow.delay = 1.5
    monkeypatch.setattr(faults, "CONTROL_TIMEOUT", 0.3)
    with pytest.raises(TimeoutError) as err:
        clock.advance("1d", endpoint_url=url)
    text = str(err.value)
    assert "POST /moto-api/sandbox/clock/advance had no answer within 0.3 s" in text
    assert "do not repeat it blindly" in text
