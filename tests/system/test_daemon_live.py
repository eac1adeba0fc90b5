"""Screen-pop end to end: the real daemon publishes live call events to a real central over mTLS and a CRM
subscriber receives them; the primary dies mid-call and the standby's subscriber gets a snapshot, then the rest."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from appliance.v1 import live_pb2
from firmware_bridge.headset import DESCRIPTORS
from firmware_bridge.at import GsmModemEmulator
from firmware_bridge.headset.emulator import HeadsetEmulator
from firmware_bridge.pty import EmulatedPort
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.live_client import Subscriber
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.system

SITE = "site-live"
HID = DESCRIPTORS / "jabra-link380c.bin"


def config(tmp_path: Path, pki, endpoints: list[str], port: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n[store]\nballast_mb = 0\n'
        + pki.central_toml(SITE, endpoints, failback_after=600, reconnect_delay=0.1, reconnect_delay_max=0.5) +
        f'[[line]]\nname = "gsm1"\nport = "{port}"\nqueue = "support"\n'
        f'[[headset]]\nname = "hs-anna"\nhidraw = "{tmp_path / "hs.sock"}"\ndescriptor_file = "{HID}"\n'
        f'agent = "anna"\nqueues = ["support"]\n')
    return path


class Collector:
    """A CRM subscriber reading on a thread; `calls(type)` lists the call events of that type so far."""

    def __init__(self, central: CentralProcess, pki):
        self.events: list[live_pb2.LiveEvent] = []
        self._channel = central.channel(credentials=pki.credentials("crm"))
        self._sub = Subscriber(self._channel, timeout=120, sites=[SITE])
        self._thread = threading.Thread(target=self._run, name="test-subscriber", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                self.events.append(self._sub.next())
        except Exception:  # noqa: BLE001 - the stream ends when the test closes it or the central dies
            return

    def calls(self, kind: int) -> list[live_pb2.CallEvent]:
        return [e.call for e in list(self.events) if e.WhichOneof("body") == "call" and e.call.type == kind]

    def snapshots(self) -> list[live_pb2.SiteSnapshot]:
        return [e.snapshot for e in list(self.events) if e.WhichOneof("body") == "snapshot"]

    def close(self) -> None:
        self._sub.close()
        self._channel.close()
        self._thread.join(5)


def test_screen_pop_events_reach_a_crm_subscriber_and_a_failover_sends_a_snapshot(tmp_path):
    pki = make_pki(tmp_path / "pki", site_id=SITE, extra_sites=())
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(port, ring_period=2.0, time_scale=0.25)
    headset = HeadsetEmulator(str(tmp_path / "hs.sock"), str(HID))
    subscribers = []
    try:
        with CentralProcess(tmp_path / "primary.db", pki=pki) as primary, \
                CentralProcess(tmp_path / "standby.db", pki=pki) as standby:
            on_primary, on_standby = Collector(primary, pki), Collector(standby, pki)
            subscribers = [on_primary, on_standby]
            with DaemonProcess(config(tmp_path, pki, [primary.address, standby.address], port.path)) as daemon:
                daemon.start()
                wait_for(lambda: on_primary.snapshots(), 15, message="the site's first snapshot at the primary")
                modem.incoming_call("+441632960123", rings=20, talk_s=120, end="local")
                [ringing] = wait_for(lambda: [c for c in on_primary.calls(live_pb2.CALL_RINGING) if c.caller], 15,
                                     message="RINGING with the caller's number at the primary")
                assert (ringing.queue, ringing.line) == ("support", "gsm1")
                headset.lift()
                [answered] = wait_for(lambda: on_primary.calls(live_pb2.CALL_ANSWERED), 15, message="ANSWERED")
                assert (answered.call_key, answered.agent, answered.headset) == (ringing.call_key, "anna", "hs-anna")
                assert answered.seq > ringing.seq
                primary.kill9()                              # the central dies mid-call
                snapshot = wait_for(lambda: [s for s in on_standby.snapshots()
                                             if any(c.call_key == ringing.call_key for c in s.calls)], 20,
                                    message="a snapshot with the call in progress at the standby")[-1]
                [in_progress] = [c for c in snapshot.calls if c.call_key == ringing.call_key]
                assert in_progress.type == live_pb2.CALL_ANSWERED and in_progress.agent == "anna"
                assert any(a.agent == "anna" and a.state == live_pb2.AGENT_ON_CALL for a in snapshot.agents)
                headset.hang_up()
                [ended] = wait_for(lambda: on_standby.calls(live_pb2.CALL_ENDED), 15, message="ENDED at the standby")
                assert ended.call_key == ringing.call_key and ended.disposition != 0
                assert ended.seq > in_progress.seq                       # per call, in order, across the failover
                assert daemon.terminate() == 0
    finally:
        for s in subscribers:
            s.close()
        headset.stop()
        modem.stop()
        port.close()
