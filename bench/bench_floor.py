"""A line starts ringing -> the wallboard shows the caller waiting, through the real daemon.

Prints figures; asserts nothing. Usage:
    .venv/bin/python bench/bench_floor.py [--calls 200] [--runs 3] [--baudrate 9600]

The real daemon (`python -m appliance run`, under the test supervisor) reads an emulated GSM module
on one pty and drives an emulated Alpha sign on another (defaults: 9600 baud 7E1, min_interval_s
1.0). Both emulators run in this process and stamp what crosses their wire with the one
system-wide monotonic clock: the module when it starts reporting the incoming call, the sign when
it has read the packet that changed what it shows to "support 1 waiting". A pty moves bytes
instantly, so the time the packet needs on a real line at --baudrate (10 bits a byte at 7E1) is
added separately. Calls nobody answers (2 s of rings: a shorter call could start and end within one
min_interval_s and never be shown, by design), one at a time, more than min_interval_s after the
sign's previous update.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware_bridge.at import GsmModemEmulator  # noqa: E402
from firmware_bridge.pty import EmulatedPort  # noqa: E402
from firmware_bridge.wallboard.emulator import SignEmulator  # noqa: E402
from tests.helpers.daemon_proc import DaemonProcess  # noqa: E402


def config(tmp: Path, line: str, sign: str) -> Path:
    text = (f'[site]\nid = "bench-floor"\ndata_dir = "{tmp / "data"}"\n'
            f'[control]\nsocket = "{tmp / "control.sock"}"\n[metrics]\nlisten = ""\n[log]\nlevel = "warning"\n'
            f'[[line]]\nname = "gsm1"\nport = "{line}"\nqueue = "support"\nring_timeout = 3.0\n'
            f'[[queue]]\nname = "support"\n'
            f'[[wallboard]]\nname = "sign"\nport = "{sign}"\naddress = "01"\nqueues = ["support"]\n'
            f'template = "{{queue}} {{waiting}} waiting"\n')
    path = tmp / "appliance.toml"
    path.write_text(text)
    return path


def until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.001)
    return value


def one_run(calls: int, baudrate: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        line_port, sign_port = EmulatedPort(str(tmp / "ttyGSM")), EmulatedPort(str(tmp / "ttySIGN"))
        modem = GsmModemEmulator(line_port, ring_period=2.0, time_scale=0.25)
        sign = SignEmulator(sign_port, addresses=("01",))
        daemon = DaemonProcess(config(tmp, line_port.path, sign_port.path))
        try:
            daemon.start(timeout=60)
            until(lambda: "AT+CLCC=1" in modem.commands, 30, "module initialised")
            until(lambda: sign.render("01") == "support 0 waiting", 30, "the sign configured")
            latencies, wire = [], []
            time.sleep(1.05)        # the sign's first figures were just written: past min_interval_s
            for n in range(calls):
                seen = len(sign.shown_history)
                modem.incoming_call(f"+4416329{n:05d}", rings=4)      # 2 s of rings, then it abandons
                t0 = until(lambda: modem.offered_at[n] if len(modem.offered_at) > n else None, 10, "offered")
                at, _, _, size = until(lambda: next((h for h in sign.shown_history[seen:]
                                                     if h[2] == "support 1 waiting"), None), 10, "shown")
                latencies.append(at - t0)
                wire.append(size * 10 / baudrate)
                until(lambda: sign.render("01") == "support 0 waiting", 20, "the caller gone")
                time.sleep(1.05)    # past min_interval_s: each call is a change the sign may show at once
            return latencies, wire
        finally:
            daemon.terminate()
            daemon.close()
            modem.stop()
            sign.stop()
            line_port.close()
            sign_port.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baudrate", type=int, default=9600)
    args = ap.parse_args()
    p50s, p99s = [], []
    for run in range(1, args.runs + 1):
        lat, wire = one_run(args.calls, args.baudrate)
        ms = sorted(x * 1000 for x in lat)
        p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        p50s.append(p50)
        p99s.append(p99)
        print(f"run {run}: ring -> sign shows it: n={len(ms)} p50 {p50:.1f} ms p99 {p99:.1f} ms max {ms[-1]:.1f} ms; "
              f"+ the packet on the wire at {args.baudrate} baud: {statistics.median(wire) * 1000:.1f} ms "
              f"({statistics.median(wire) * args.baudrate / 10:.0f} bytes)", flush=True)
    print(f"median of {args.runs} runs: p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms "
          f"(target <= 250 ms plus the wire time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
