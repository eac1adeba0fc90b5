"""The real daemon: an agent answers a GSM line and the call's audio is bridged and recorded, encrypted
at capture (real PyAudio through ALSA file PCMs, real speech, Debian's `age` decrypts); a kill -9 mid
recording leaves an interrupted record with a truncated recording; no recipient records nothing."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.virtual import FilePcm, write_alsa_config
from firmware_bridge.headset import DESCRIPTORS
from firmware_bridge.at import GsmModemEmulator
from firmware_bridge.headset.emulator import HeadsetEmulator
from firmware_bridge.pty import EmulatedPort
from tests.appliance.audio.audio_support import AGENT_TEXT, CALLER_TEXT, find, padded, speak
from tests.appliance.audio.recording_helpers import age_decrypt, keygen
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.tmpfs import needs_root, tmpfs
from tests.helpers.waiting import wait_for
from tests.helpers.site_db import cdr_rows

pytestmark = pytest.mark.system

HID = DESCRIPTORS / "jabra-link380c.bin"
RATE = 8000


def setup_site(tmp_path: Path, recipients: list[str]) -> tuple[Path, dict]:
    caller = speak(CALLER_TEXT, RATE, tmp_path, "caller")
    agent = speak(AGENT_TEXT, RATE, tmp_path, "agent")
    (tmp_path / "line_in.raw").write_bytes(padded(caller, 0.5, 1.0).tobytes())
    (tmp_path / "headset_in.raw").write_bytes(padded(agent, 1.5, 1.0).tobytes())
    asound = write_alsa_config(tmp_path / "asound.conf", [
        FilePcm("line1", tmp_path / "line_in.raw", tmp_path / "line_out.raw"),
        FilePcm("headset1", tmp_path / "headset_in.raw", tmp_path / "headset_out.raw")])
    text = (f'[site]\nid = "site-audio"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n'
            f'[store]\nballast_mb = 0\n'
            f'[recording]\nrecipients = {json.dumps(recipients)}\nsegment_s = 3\nquota_mb = 100\nreserve_mb = 4\n'
            f'[[line]]\nname = "gsm1"\nport = "{tmp_path / "ttyGSM"}"\nqueue = "support"\n'
            f'audio = "line1"\naudio_paced = true\nreconnect_delay = 0.05\nreconnect_delay_max = 0.2\n'
            f'[[headset]]\nname = "hs-anna"\nhidraw = "{tmp_path / "hs.sock"}"\ndescriptor_file = "{HID}"\n'
            f'agent = "anna"\nqueues = ["support"]\naudio = "headset1"\naudio_paced = true\n'
            f'[[queue]]\nname = "support"\nwrap_up_s = 0\n')
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path, {"ALSA_CONFIG_PATH": str(asound), "caller": caller, "agent": agent}


def rows(tmp_path: Path) -> list[dict]:
    return cdr_rows(tmp_path / "data")

class Site:
    def __init__(self, tmp_path: Path, recipients: list[str]):
        self.tmp = tmp_path
        self.config, self.extra = setup_site(tmp_path, recipients)
        self.port = EmulatedPort(str(tmp_path / "ttyGSM"))
        self.modem = GsmModemEmulator(self.port, ring_period=2.0, time_scale=0.25)
        self.headset = HeadsetEmulator(str(tmp_path / "hs.sock"), str(HID))
        self.daemon = DaemonProcess(self.config, env={"ALSA_CONFIG_PATH": self.extra["ALSA_CONFIG_PATH"]})

    def start(self) -> None:
        self.daemon.start()
        wait_for(lambda: self.headset.connected and "AT+CLCC=1" in self.modem.commands, 10, message="ready")

    def answered_call(self) -> None:
        self.modem.incoming_call("+441632960123", rings=20, talk_s=300, end="local")
        assert self.headset.wait_led("ring", True, 10)
        self.headset.lift()
        assert self.headset.wait_led("off_hook", True, 10)

    def close(self) -> None:
        self.daemon.close()
        self.headset.stop()
        self.modem.stop()
        self.port.close()


def segments_of(row: dict) -> list[dict]:
    return json.loads(row["recording"])["segments"]


def test_an_answered_call_is_bridged_and_recorded_encrypted_at_capture(tmp_path):
    keys = keygen(tmp_path)
    site = Site(tmp_path, [keys.recipient])
    try:
        site.start()
        site.answered_call()
        rec_dir = tmp_path / "data" / "recordings"
        [key] = wait_for(lambda: list(status(site.config).get("audio", {}).get("calls", {})), 10,
                         message="the call's audio session")
        # wait until both phrases have been heard through the bridge (the files grow in real time)
        wait_for(lambda: (tmp_path / "headset_out.raw").exists()
                 and (tmp_path / "headset_out.raw").stat().st_size > 2 * RATE * 4, 20, message="4 s bridged")
        assert cli("recording", "pause", "--call", key, "--config", str(site.config)).returncode == 0
        wait_for(lambda: (tmp_path / "headset_out.raw").stat().st_size > 2 * RATE * 5, 20, message="1 s paused")
        assert cli("recording", "resume", "--call", key, "--config", str(site.config)).returncode == 0
        wait_for(lambda: (tmp_path / "headset_out.raw").stat().st_size > 2 * RATE * 6, 20, message="after it")
        site.headset.hang_up()
        [row] = wait_for(lambda: rows(tmp_path), 20, message="the record stored")
        assert site.daemon.terminate() == 0
    finally:
        site.close()
    recording = json.loads(row["recording"])
    assert (row["agent"], row["headset"], recording["status"]) == ("anna", "hs-anna", "recorded"), recording
    summary = {k: v for k, v in recording.items() if k not in ("caller_speech", "agent_speech")}
    assert recording["sample_rate"] == RATE and recording["samples"] > 3 * RATE, summary
    assert recording["caller_speech_ratio"] > 0.2 and recording["agent_speech_ratio"] > 0.2, summary
    files = sorted(rec_dir.iterdir())
    assert [f.name for f in files] == [s["name"] for s in segments_of(row)]
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)
    assert all(b"RIFF" not in f.read_bytes() for f in files)                  # nothing readable on disk
    stereo = b"".join(age_decrypt(keys.identity_file, f.read_bytes()).stdout for f in files)
    channels = np.frombuffer(stereo, dtype="<i2").reshape(-1, 2)
    caller = site.extra["caller"].pcm[site.extra["caller"].start:site.extra["caller"].end][:RATE]
    score, _ = find(caller, channels[:, 0], len(channels))
    assert score > 0.9, (score, summary)                # the caller's own words, left channel
    heard = np.fromfile(tmp_path / "headset_out.raw", dtype="<i2")
    assert find(caller, heard, len(heard))[0] > 0.9     # and the agent heard them
    [pause] = recording["pci_pauses"]
    assert pause["paused_by"].startswith("control:") and pause["resumed_by"].startswith("control:")
    start, end = int(pause["start_s"] * RATE), int(pause["end_s"] * RATE)
    assert end - start > RATE // 2 and not channels[start:end].any()     # the PCI window is silence


def cli(*args: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=20)


def status(config: Path) -> dict:
    out = cli("status", "--json", "--config", str(config))
    return json.loads(out.stdout) if out.returncode == 0 else {}


def test_a_kill_9_mid_recording_leaves_an_interrupted_record_with_a_truncated_recording(tmp_path):
    keys = keygen(tmp_path)
    site = Site(tmp_path, [keys.recipient])
    try:
        site.start()
        site.answered_call()
        rec_dir = tmp_path / "data" / "recordings"
        wait_for(lambda: rec_dir.exists() and any(p.name.endswith(".age") for p in rec_dir.iterdir()), 30,
                 message="a closed segment")
        site.daemon.kill()
        assert rows(tmp_path) == []                       # nothing was stored before the crash
        site.daemon.start()                               # the call's record comes back at start
        [row] = wait_for(lambda: rows(tmp_path), 20, message="the interrupted record")
        assert site.daemon.terminate() == 0
    finally:
        site.close()
    recording = json.loads(row["recording"])
    assert row["interrupted"] == 1 and recording["status"] == "truncated"
    assert (row["agent"], row["caller"]) == ("anna", "+441632960123")
    names = [s["name"] for s in recording["segments"]]
    assert names and all((rec_dir / n).exists() for n in names)
    closed = [s for s in recording["segments"] if s["complete"]]
    assert closed and age_decrypt(keys.identity_file, (rec_dir / closed[0]["name"]).read_bytes()).returncode == 0


def test_without_a_recipient_nothing_is_recorded_and_the_call_goes_on(tmp_path):
    site = Site(tmp_path, [])
    try:
        site.start()
        site.answered_call()
        wait_for(lambda: (tmp_path / "headset_out.raw").exists()
                 and (tmp_path / "headset_out.raw").stat().st_size > RATE * 2, 20, message="bridged anyway")
        site.headset.hang_up()
        [row] = wait_for(lambda: rows(tmp_path), 20, message="the record stored")
        assert site.daemon.terminate() == 0
        log = site.daemon.log_text()
    finally:
        site.close()
    recording = json.loads(row["recording"])
    assert recording["status"] == "not_recorded" and "recipient" in recording["reason"]
    assert row["disposition"] == "answered" and not (tmp_path / "data" / "recordings").exists() or \
        not any((tmp_path / "data" / "recordings").iterdir())
    assert "ALERT: call not recorded" in log


@needs_root
def test_a_full_disk_refuses_recordings_not_records_and_recording_resumes_when_space_returns(tmp_path):
    """The data dir on a real 24 MB file system: with less free than reserve_mb (the call records'
    space), a call is answered and stored but not recorded, with the reason and an alarm; once space
    returns, the next call is recorded again, by itself."""
    keys = keygen(tmp_path)
    site = Site(tmp_path, [keys.recipient])
    with tmpfs(tmp_path / "data", "24m"):
        filler = None
        try:
            site.start()
            free = os.statvfs(tmp_path / "data")
            left = 2 << 20                              # 2 MB free: below reserve_mb (4), room for records
            filler = tmp_path / "data" / "filler"
            with open(filler, "wb") as f:
                f.write(b"\xff" * (free.f_bavail * free.f_frsize - left))
            site.answered_call()
            wait_for(lambda: (tmp_path / "headset_out.raw").exists()
                     and (tmp_path / "headset_out.raw").stat().st_size > RATE * 2, 20, message="bridged")
            site.headset.hang_up()
            [first] = wait_for(lambda: rows(tmp_path), 20, message="the first record stored")
            filler.unlink()                              # space returns
            filler = None
            site.answered_call()
            wait_for(lambda: (tmp_path / "data" / "recordings").exists()
                     and any(p.name.endswith(".age") for p in (tmp_path / "data" / "recordings").iterdir()), 30,
                     message="a segment of the second call")
            site.headset.hang_up()
            _, second = wait_for(lambda: rows(tmp_path)[1:] and rows(tmp_path), 20, message="the second record")
            assert site.daemon.terminate() == 0
            log = site.daemon.log_text()
        finally:
            if filler is not None:
                filler.unlink()
            site.close()
    refused = json.loads(first["recording"])
    assert first["disposition"] == "answered" and refused["status"] == "not_recorded", refused
    assert "reserve" in refused["reason"] or "free" in refused["reason"], refused
    assert "ALERT: call not recorded" in log
    assert json.loads(second["recording"])["status"] == "recorded"
