"""The demo's floor: agents on emulated headsets, an emulated wallboard, and a CRM watching screen-pops.

* `Agents`: two headsets from two vendors (real report descriptors: a Jabra Link 380c and a Dell
  SP325) on real SOCK_SEQPACKET sockets. A scripted agent behind each answers when its Ring LED
  lights (mostly), sometimes mutes for a while, hangs up when done or puts the boom back after the
  caller hung up.
* `Sign`: an Alpha sign on a pty, shown on the demo screen as the sign would show it.
* `ScreenPop`: a CRM subscriber (the CRM certificate from the demo's PKI) on the centrals' live
  events, primary first, the other on failure, as a CRM would; keeps the last call events.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path

log = logging.getLogger("appliance.demo")

AGENTS = {"anna": "jabra-link380c.bin", "bob": "dell-sp325.bin"}
SIGN_TEMPLATE = "{queue} {waiting} waiting, longest {longest_wait}"


class Agents:
    """The headsets and the agents who wear them; `start()` once the daemon has opened them."""

    def __init__(self, workdir: Path, seed: int = 2):
        from firmware_bridge.headset import DESCRIPTORS
        from firmware_bridge.headset.emulator import HeadsetEmulator
        self.paths = {a: workdir / f"hs-{a}.sock" for a in AGENTS}
        self.descriptors = {a: DESCRIPTORS / d for a, d in AGENTS.items()}
        self.headsets = {a: HeadsetEmulator(str(self.paths[a]), str(self.descriptors[a]), name=f"hs-{a}")
                         for a in AGENTS}
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._agent, args=(a,), name=f"demo-agent-{a}", daemon=True)
                         for a in AGENTS]

    def config(self) -> str:
        return "".join(f'''
[[headset]]
name = "hs-{agent}"
hidraw = "{self.paths[agent]}"
descriptor_file = "{self.descriptors[agent]}"
agent = "{agent}"
queues = ["support"]
reconnect_delay = 0.5
reconnect_delay_max = 5.0
''' for agent in AGENTS)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for h in self.headsets.values():
            h.stop()

    def _agent(self, agent: str) -> None:
        hs = self.headsets[agent]
        while not self._stop.is_set():
            try:
                if hs.wait_led("ring", True, 0.5):
                    self._take(hs)
            except (ConnectionError, OSError) as exc:      # the daemon has not opened it (yet)
                log.debug("demo agent %s: %s", agent, exc)
                self._stop.wait(1.0)

    def _led(self, hs, name: str, value: bool, timeout: float) -> bool:
        """Wait for an LED like the agent would look at it, but give up at once when the demo stops."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if hs.wait_led(name, value, max(0.0, min(left, 0.25))):
                return True
            if left <= 0.25:
                return False
        raise _Stopped

    def _take(self, hs) -> None:
        rng = self._rng
        try:
            if rng.random() < 0.2:                  # busy with something else: lets it ring
                self._led(hs, "ring", False, 30)
                return
            if self._led(hs, "ring", False, rng.uniform(1.0, 4.0)):
                return                              # the caller gave up, or the other agent answered
            hs.lift()
            if not self._led(hs, "off_hook", True, 3):
                hs.hang_up()                        # too late: the call went elsewhere
                return
            done = time.monotonic() + rng.uniform(10.0, 40.0)
            mute_at = time.monotonic() + rng.uniform(3.0, 8.0) if rng.random() < 0.3 else None
            while time.monotonic() < done:
                if self._led(hs, "off_hook", False, 0.5):
                    break                           # the caller hung up: the daemon turned Off-Hook off
                if mute_at is not None and time.monotonic() >= mute_at:
                    hs.press_mute()                 # a few seconds' mute, then unmuted again
                    mute_at = None
                    self._led(hs, "off_hook", False, 3.0)
                    hs.press_mute()
            hs.hang_up()
        except _Stopped:
            return


class _Stopped(Exception):
    """The demo is stopping: the agent leaves its desk."""


class Sign:
    """One Alpha sign (address 01) showing the support queue, on a pty the daemon writes to."""

    def __init__(self, workdir: Path):
        from firmware_bridge.pty import EmulatedPort
        from firmware_bridge.wallboard.emulator import SignEmulator
        self.port = EmulatedPort(str(workdir / "tty-sign"))
        self.sign = SignEmulator(self.port, addresses=("01",))

    def config(self) -> str:
        return f'''
[[wallboard]]
name = "floor-sign"
port = "{self.port.path}"
address = "01"
queues = ["support"]
template = "{SIGN_TEMPLATE}"
stale_after_s = 10.0
reconnect_delay = 0.5
reconnect_delay_max = 5.0
'''

    def shows(self) -> tuple[str, str | None]:
        """What the sign shows now (one line) and its colour."""
        return " / ".join(self.sign.render("01").splitlines()), self.sign.colour("01")

    def stop(self) -> None:
        self.sign.stop()
        self.port.close()


class ScreenPop:
    """A CRM's subscription to live call events; `last` holds the latest few, one line each."""

    def __init__(self, endpoints: list[str], pki: Path, keep: int = 3):
        self.endpoints, self.pki = endpoints, pki
        self.last: deque[str] = deque(maxlen=keep)
        self.connected = ""
        self._stop = threading.Event()
        self._call = None
        self._thread = threading.Thread(target=self._run, name="demo-screen-pop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(5)

    def _run(self) -> None:
        import grpc

        from appliance.v1 import live_pb2, live_pb2_grpc
        creds = grpc.ssl_channel_credentials((self.pki / "ca.pem").read_bytes(), (self.pki / "crm.key").read_bytes(),
                                             (self.pki / "crm.pem").read_bytes())
        n = 0
        while not self._stop.is_set():
            endpoint = self.endpoints[n % len(self.endpoints)]
            n += 1
            with grpc.secure_channel(endpoint, creds) as channel:
                self._call = live_pb2_grpc.LiveEventsStub(channel).Subscribe(live_pb2.SubscribeRequest())
                try:
                    for event in self._call:
                        self.connected = endpoint
                        if event.WhichOneof("body") == "call":
                            self.last.append(_line(event.call))
                except grpc.RpcError:
                    pass
                finally:
                    self.connected = ""
            self._stop.wait(1.0)


def _line(call) -> str:
    from appliance.v1 import cdr_pb2, live_pb2
    what = live_pb2.CallEventType.Name(call.type).removeprefix("CALL_").lower().replace("_", " ")
    who = call.caller or "withheld"
    extra = ""
    if call.type in (live_pb2.CALL_ANSWERED, live_pb2.CALL_AGENT_RINGING) and call.agent:
        extra = f" {call.agent}"
    elif call.type == live_pb2.CALL_ENDED:
        extra = " " + cdr_pb2.Disposition.Name(call.disposition).lower()
    return f"{datetime.now():%H:%M:%S} {call.line} {what} {who}{extra}"
