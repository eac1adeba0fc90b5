"""The demo as a visitor meets it: the screen on an 80x24 terminal mid-failover, plain lines when
stdout is a pipe, where the files are, a self-test that knows the demo is the daemon, Ctrl-C."""
from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from rich.console import Console
from rich.live_render import LiveRender

from appliance.demo import Demo
from tests.helpers.waiting import wait_for


async def until(condition, timeout: float, message: str) -> None:
    """Bounded wait on the demo's own loop (the daemon runs there)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.05)


def as_the_terminal_shows_it(screen, width: int, height: int) -> list[str]:
    """What rich's Live puts on a terminal of this size: the screen, cut to the height."""
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None)
    with console.capture() as captured:
        console.print(LiveRender(screen, vertical_overflow="ellipsis"))
    return captured.get().splitlines()


def test_the_screen_keeps_the_failover_command_and_ctrl_c_on_80x24_during_a_failover(tmp_path):
    demo = Demo(tmp_path / "demo", calls_per_minute=600).start()

    async def scenario():
        task = asyncio.create_task(demo.daemon.run(), name="daemon")
        try:
            await asyncio.wait_for(demo.daemon.wait_ready(), 30)
            demo.start_traffic(asyncio.get_running_loop())
            await until(lambda: demo.daemon.status()["records_durable"] >= 3, 30, "records stored")
            assert demo.daemon.status()["central"]["active_endpoint"] == demo.centrals[0].endpoint
            demo.check_centrals()
            before = demo.screen()
            primary = demo.centrals[0].proc.pid
            os.kill(primary, signal.SIGTERM)            # `kill PID`, what the screen tells you to do
            standby = demo.centrals[1].endpoint
            await until(lambda: demo.daemon.status()["central"]["active_endpoint"] == standby
                        and demo.centrals[0].proc.poll() is not None, 30,
                        "delivery to the standby, the primary gone")
            demo.check_centrals()
            return primary, before, demo.screen()
        finally:
            demo.daemon.stop()
            await task

    try:
        primary, before, during = asyncio.run(scenario())
    finally:
        demo.stop()
    assert len(str(demo.workdir)) > 60          # pytest's long paths: longer than a visitor's /tmp one
    for screen, wanted in ((before, f"Try a failover: kill {primary}  (the primary central)"),
                           (during, "Primary central down (restart in")):
        full = as_the_terminal_shows_it(screen, 80, 200)
        assert len(full) <= 24, "\n".join(full)                        # the whole screen fits
        assert all(len(line) <= 80 for line in full)
        for height in (24, 14):                                       # a short terminal cuts below
            lines = as_the_terminal_shows_it(screen, 80, height)
            assert len(lines) <= height
            assert any(wanted in line and "Ctrl-C stops the demo." in line for line in lines), "\n".join(lines)
            assert any(f"Files: {demo.workdir}" in line for line in lines)
    text = "\n".join(as_the_terminal_shows_it(during, 80, 24))
    assert "failovers 1" in text and f"central {demo.centrals[1].endpoint}" in text


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_piped_demo_prints_plain_lines_is_the_daemon_to_the_self_test_and_stops_on_ctrl_c(tmp_path, stop):
    workdir = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "appliance", "demo", "--no-central", "--dir", str(workdir),
                             "--calls-per-minute", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), name="test-demo-output")
    reader.start()
    try:
        wait_for(lambda: any(re.match(r"4/4 devices up, [1-9]\d* records stored", line) for line in lines), 30,
                 message="plain status lines with every device up")
        selftest = subprocess.run([sys.executable, "-m", "appliance", "selftest", "--only", "device", "--json",
                                   "--no-report", "--config", str(workdir / "appliance.toml")],
                                  capture_output=True, text=True, timeout=60)
        demo.send_signal(stop)
        assert demo.wait(30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        reader.join(10)
        demo.stdout.close()
    output = "".join(lines)
    assert "\x1b[" not in output and "╭" not in output              # no live screen into a pipe
    assert "(stdout is not a terminal)" in output and "Ctrl-C stops the demo" in output
    assert f"Files: {workdir}" in output and "appliance.toml" in output
    assert "demo stopped:" in output and f"kept in {workdir}" in output
    results = {r["name"]: r for r in json.loads(selftest.stdout)["results"]}
    assert set(results) == {"device:ipo", "device:kxtda", "device:gsm1", "device:gsm2"}
    assert all(r["status"] == "pass" for r in results.values()), results
    assert f"(the daemon, pid {demo.pid})" in results["device:ipo"]["detail"]
    assert f"in use by the running daemon (pid {demo.pid})" in results["device:kxtda"]["detail"]
    assert (workdir / "appliance.toml").exists() and (workdir / "demo.log").exists()
