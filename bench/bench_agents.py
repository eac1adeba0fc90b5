"""Agents' latencies through the real daemon: hook switch -> ATA, and line ringing -> Ring LED on many headsets.

Prints figures; asserts nothing. Usage:
    .venv/bin/python bench/bench_agents.py [--calls 1000] [--headsets 50] [--ring-calls 20] [--runs 3]

The real daemon (`python -m appliance run`, under the test supervisor) opens an emulated GSM module
on a pty and emulated headsets on real SOCK_SEQPACKET sockets carrying hidraw reports (Jabra Link
380c descriptor). Both emulators run in this process and time what crosses their wire with the one
system-wide monotonic clock:

* hook -> ATA: the moment the headset's hook-switch report is sent, to the moment the module reads
  the `ATA` line. One headset; --calls calls one after another (answer, hang up, next).
* ring -> LED: the moment the module starts reporting a new incoming call (+CLCC / RING), to the
  moment each of --headsets headsets receives its Ring LED output report. --ring-calls calls that
  nobody answers; --headsets samples per call.
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
from firmware_bridge.headset import DESCRIPTORS  # noqa: E402
from firmware_bridge.headset.emulator import HeadsetEmulator  # noqa: E402
from firmware_bridge.pty import EmulatedPort  # noqa: E402
from tests.helpers.daemon_proc import DaemonProcess  # noqa: E402

DESCRIPTOR = DESCRIPTORS / "jabra-link380c.bin"


def config(tmp: Path, port: str, headsets: int) -> Path:
    text = (f'[site]\nid = "bench-agents"\ndata_dir = "{tmp / "data"}"\n'
            f'[control]\nsocket = "{tmp / "control.sock"}"\n[metrics]\nlisten = ""\n'
            f'[log]\nlevel = "warning"\n'
            f'[[line]]\nname = "gsm1"\nport = "{port}"\nqueue = "support"\nring_timeout = 3.0\n'
            f'[[queue]]\nname = "support"\nwrap_up_s = 0\n')
    for i in range(headsets):
        text += (f'[[headset]]\nname = "hs{i}"\nhidraw = "{tmp / f"hs{i}.sock"}"\n'
                 f'descriptor_file = "{DESCRIPTOR}"\nagent = "agent{i}"\nqueues = ["support"]\n')
    path = tmp / "appliance.toml"
    path.write_text(text)
    return path


def until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.0005)


class Site:
    def __init__(self, tmp: Path, headsets: int, time_scale: float):
        self.port = EmulatedPort(str(tmp / "ttyGSM"))
        self.modem = GsmModemEmulator(self.port, ring_period=2.0, time_scale=time_scale)
        self.headsets = [HeadsetEmulator(str(tmp / f"hs{i}.sock"), str(DESCRIPTOR)) for i in range(headsets)]
        self.daemon = DaemonProcess(config(tmp, self.port.path, headsets))

    def __enter__(self) -> "Site":
        self.daemon.start(timeout=60)
        until(lambda: all(h.connected for h in self.headsets), 30, "headsets opened")
        until(lambda: "AT+CLCC=1" in self.modem.commands, 30, "module initialised")
        return self

    def __exit__(self, *exc) -> None:
        self.daemon.terminate()
        self.daemon.close()
        for h in self.headsets:
            h.stop()
        self.modem.stop()
        self.port.close()


def hook_to_ata(calls: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d, Site(Path(d), 1, time_scale=0.25) as site:
        hs, modem, out = site.headsets[0], site.modem, []
        for n in range(calls):
            modem.incoming_call(f"+4416329{n:05d}", rings=50, talk_s=600, end="local")
            if not hs.wait_led("ring", True, 10):
                raise TimeoutError(f"call {n}: the headset never rang")
            seen = len(modem.command_times)
            t0 = time.monotonic()
            hs.lift()
            until(lambda: any(c == "ATA" for _, c in modem.command_times[seen:]), 10, "ATA")
            out.append(next(t for t, c in modem.command_times[seen:] if c == "ATA") - t0)
            hs.wait_led("ring", False, 10)
            hs.hang_up()
            until(lambda: any(c == "AT+CHUP" for _, c in modem.command_times[seen:]), 10, "AT+CHUP")
            hs.wait_led("off_hook", False, 10)
        return out


def ring_to_led(headsets: int, ring_calls: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d, Site(Path(d), headsets, time_scale=0.05) as site:
        out = []
        for n in range(ring_calls):
            offered = len(site.modem.offered_at)
            site.modem.incoming_call(f"+4416329{n:05d}", rings=2)
            until(lambda: len(site.modem.offered_at) > offered, 10, "call offered")
            t0 = site.modem.offered_at[-1]
            for h in site.headsets:
                if not h.wait_led("ring", True, 10):
                    raise TimeoutError(f"{h.name}: never rang")
                out.append(next(c.at for c in h.led_history if c.name == "ring" and c.value and c.at >= t0) - t0)
            for h in site.headsets:
                if not h.wait_led("ring", False, 20):
                    raise TimeoutError(f"{h.name}: kept ringing")
        return out


def summary(name: str, samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"  {name}: n={len(ms)} p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {ms[-1]:.2f} ms", flush=True)
    return p50, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--headsets", type=int, default=50)
    ap.add_argument("--ring-calls", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    hook, ring = [], []
    for run in range(1, args.runs + 1):
        print(f"run {run}/{args.runs}", flush=True)
        hook.append(summary("hook switch -> ATA", hook_to_ata(args.calls)))
        ring.append(summary(f"ring -> Ring LED on {args.headsets} headsets", ring_to_led(args.headsets, args.ring_calls)))
    print(f"median of {args.runs} runs: hook->ATA p50 {statistics.median(p for p, _ in hook):.2f} ms, "
          f"p99 {statistics.median(p for _, p in hook):.2f} ms (target <= 20); ring->LED p50 "
          f"{statistics.median(p for p, _ in ring):.2f} ms, p99 {statistics.median(p for _, p in ring):.2f} ms "
          f"(target <= 50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
