"""Recording uploads to a real central over mTLS: only after the record's ack, resumable after kill -9, verified."""
from __future__ import annotations

import logging

import pytest

from appliance.store import Store, StoreWriter
from appliance.store.retention import delete_expired
from tests.appliance.uploads.upload_site import (SITE, Site, central_copy, recipient, recorded_call, sha256,
                                                 store_records)
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.sync_harness import ClientThread, mtls_config
from tests.helpers.waiting import free_port, wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), SITE, extra_sites=())


@pytest.fixture
def central(pki, tmp_path):
    (tmp_path / "central").mkdir()
    with CentralProcess(tmp_path / "central" / "central.db", pki=pki) as proc:
        yield proc


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def segments(calls):
    return [(call, seg) for call in calls for seg in call.recording.segments]


def looked_again(site: Site, times: int = 3) -> None:
    """Wait until the uploader has looked for work `times` more times (each look would have found it)."""
    start = site.status()["work_looks"]
    wait_for(lambda: site.status()["work_looks"] >= start + times, 10, message=f"{times} more looks for work")


def test_segments_upload_only_after_the_record_is_acked_and_the_centrals_copies_hash_equal(pki, central, data):
    age_recipient = recipient()
    calls = [recorded_call(i, data / "recordings", age_recipient, seconds=2.5, segment_s=1.0) for i in range(3)]
    store_records(data, calls)
    local = {seg.name: (data / "recordings" / seg.name).read_bytes() for _, seg in segments(calls)}
    assert len(local) == 9, "three calls of three segments each"
    config = mtls_config(pki, central.address)
    with Site(config, data, sync=False) as site:
        wait_for(lambda: site.status()["connected"] and site.status()["backlog_segments"] == 9, 10,
                 message="uploader connected, backlog counted")
        looked_again(site)
        status = site.status()
        assert (status["bytes_sent_total"], status["retry_later_total"], status["uploaded"]) == (0, 0, 0), \
            "nothing is offered while the records are still in the outbox"
        assert all((data / "recordings" / name).exists() for name in local)
        with ClientThread(config, data) as sync:
            wait_for(lambda: sync.status()["acked_total"] == 3, 10, message="records acked")
            wait_for(lambda: site.status()["uploaded"] == 9, 20, message="every segment uploaded")
        status = site.status()
    assert status["retry_later_total"] == 0, "no segment was offered before the central had its record"
    assert (status["rejected"], status["missing"], status["backlog_segments"]) == (0, 0, 0)
    assert status["uploaded_bytes_total"] == sum(len(b) for b in local.values())
    for call, seg in segments(calls):
        copy = central_copy(central, call.key, seg.name)
        assert copy.read_bytes() == local[seg.name]
        assert sha256(copy) == seg.sha256
    assert not list((data / "recordings").iterdir()), "keep_after_upload_s = 0: local copies deleted after the ack"


def test_with_the_daemons_one_writer_segments_upload_and_local_copies_go(pki, central, data):
    """As the daemon wires it: the sync's and the uploader's writes (acks, verdicts, the cursor, the
    deletions) all go through the store writer; their own stores are read-only."""
    calls = [recorded_call(i, data / "recordings", recipient(), seconds=2.5, segment_s=1.0) for i in range(2)]
    store_records(data, calls)
    writer = StoreWriter(lambda: Store(data, site_id=SITE, check=False))
    writer.call(lambda store: None)      # the writer has the database open (read-only readers need its WAL)
    try:
        with Site(mtls_config(pki, central.address), data, writer=writer) as site:
            wait_for(lambda: site.status()["uploaded"] == 6, 20, message="every segment uploaded")
            wait_for(lambda: not list((data / "recordings").iterdir()), 10, message="local copies deleted")
            assert site.sync.status()["acked_total"] == 2
    finally:
        assert writer.close(5)
    for call, seg in segments(calls):
        assert sha256(central_copy(central, call.key, seg.name)) == seg.sha256
    with Store(data, site_id=SITE) as store:
        assert store.stats()["pending"] == 0


def test_an_upload_cut_by_kill9_of_the_central_resumes_from_its_durable_offset(pki, central, data):
    (call,) = [recorded_call(1, data / "recordings", recipient(), seconds=32.0)]      # one ~1 MB segment
    (seg,) = call.recording.segments
    original = (data / "recordings" / seg.name).read_bytes()
    store_records(data, [call])
    partial = central_copy(central, call.key, seg.name).with_name(seg.name + ".part")
    config = mtls_config(pki, central.address, reconnect_delay=0.1, reconnect_delay_max=0.5)
    with Site(config, data, chunk_bytes=64 * 1024, bytes_per_s=512 * 1024) as site:
        wait_for(lambda: partial.exists() and partial.stat().st_size >= 256 * 1024, 20,
                 message="a quarter of a megabyte durable at the central")
        central.kill9()
        wait_for(lambda: not site.status()["connected"] and site.status()["uploading"] == 0, 10,
                 message="the uploader saw the central go")
        durable = partial.stat().st_size
        sent_before = site.status()["bytes_sent_total"]
        assert 0 < durable < seg.bytes, "killed mid-segment"
        central.start()
        wait_for(lambda: site.status()["uploaded"] == 1, 30, message="upload finished after the restart")
        status = site.status()
    assert status["resumed_total"] == 1
    assert status["bytes_sent_total"] - sent_before == seg.bytes - durable, \
        "after the restart only the bytes past the central's durable offset were sent"
    copy = central_copy(central, call.key, seg.name)
    assert copy.read_bytes() == original and sha256(copy) == seg.sha256
    assert not partial.exists() and not (data / "recordings" / seg.name).exists()


def test_a_segment_that_does_not_match_its_record_is_rejected_kept_alarmed_and_never_retried(
        pki, central, data, caplog):
    age_recipient = recipient()
    good, bad = (recorded_call(i, data / "recordings", age_recipient, seconds=1.0) for i in (1, 2))
    store_records(data, [good, bad])
    (bad_seg,) = bad.recording.segments
    path = data / "recordings" / bad_seg.name
    tampered = bytearray(path.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01                      # same size, different content
    path.write_bytes(bytes(tampered))
    config = mtls_config(pki, central.address)
    with caplog.at_level(logging.ERROR, logger="appliance.uploads"):
        with Site(config, data) as site:
            wait_for(lambda: site.status()["uploaded"] == 1 and site.status()["rejected"] == 1, 20,
                     message="one uploaded, one rejected")
            sent = site.status()["bytes_sent_total"]
            looked_again(site)
            status = site.status()
    assert status["bytes_sent_total"] == sent and status["rejected_total"] == 1, "not offered again"
    assert "sha256 mismatch" in status["last_problem"]
    assert [(p["segment"], p["state"]) for p in status["problems"]] == [(0, "rejected")]
    alarms = [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()]
    assert len(alarms) == 1 and "sha256 mismatch" in alarms[0] and bad_seg.name in alarms[0]
    assert path.read_bytes() == bytes(tampered), "a rejected segment is kept as it is"
    assert not central_copy(central, bad.key, bad_seg.name).exists()
    assert not central_copy(central, bad.key, bad_seg.name).with_name(bad_seg.name + ".part").exists()
    with Site(config, data) as site:                          # the verdict is durable: a restart does not retry
        wait_for(lambda: site.status()["housekeeping_passes"] >= 1, 10, message="figures read")
        looked_again(site)
        status = site.status()
    assert (status["bytes_sent_total"], status["rejected"], status["uploaded"]) == (0, 1, 1)


def test_local_copies_go_keep_after_upload_s_after_the_ack_and_never_before(pki, central, data):
    offset = [0.0]

    def now() -> float:
        import time
        return time.time() + offset[0]

    age_recipient = recipient()
    calls = [recorded_call(i, data / "recordings", age_recipient, seconds=1.0) for i in range(2)]
    store_records(data, calls)
    files = [data / "recordings" / seg.name for _, seg in segments(calls)]
    config = mtls_config(pki, central.address)

    def passes_later(site: Site, n: int = 2) -> None:
        start = site.status()["housekeeping_passes"]
        wait_for(lambda: site.status()["housekeeping_passes"] >= start + n, 10, message="housekeeping passes")

    with Site(config, data, keep_after_upload_s=60.0, now=now) as site:
        wait_for(lambda: site.status()["uploaded"] == 2, 20, message="both uploaded")
        passes_later(site)
        assert all(f.exists() for f in files), "kept right after the ack"
        offset[0] = 58.0
        passes_later(site)
        assert all(f.exists() for f in files), "kept until keep_after_upload_s has passed"
        offset[0] = 61.0
        wait_for(lambda: site.status()["local_deleted_total"] == 2, 10, message="local copies deleted")
    assert not any(f.exists() for f in files)
    for call, seg in segments(calls):
        assert sha256(central_copy(central, call.key, seg.name)) == seg.sha256


def test_uploads_fail_over_to_the_next_endpoint_like_the_records(pki, central, data):
    calls = [recorded_call(1, data / "recordings", recipient(), seconds=1.0)]
    store_records(data, calls)
    dead = f"127.0.0.1:{free_port()}"
    with Site(mtls_config(pki, dead, central.address), data) as site:
        wait_for(lambda: site.status()["uploaded"] == 1, 20, message="uploaded through the second endpoint")
        status = site.status()
    assert status["active_endpoint"] == central.address and status["failovers"] >= 1
    assert "127.0.0.1" in status["last_error"] or status["last_error"] == ""
    (_, seg), = segments(calls)
    assert sha256(central_copy(central, calls[0].key, seg.name)) == seg.sha256


def test_a_segment_whose_file_is_gone_is_alarmed_as_missing_and_its_record_kept(pki, central, data, caplog):
    calls = [recorded_call(i, data / "recordings", recipient(), seconds=1.0) for i in (1, 2)]
    store_records(data, calls)
    (gone,) = calls[0].recording.segments
    (data / "recordings" / gone.name).unlink()
    with caplog.at_level(logging.ERROR, logger="appliance.uploads"):
        with Site(mtls_config(pki, central.address), data) as site:
            wait_for(lambda: site.status()["uploaded"] == 1 and site.status()["missing"] == 1, 20,
                     message="one uploaded, one missing")
            status = site.status()
    assert status["missing_total"] == 1 and "is gone" in status["last_problem"]
    assert any("ALARM" in r.getMessage() and gone.name in r.getMessage() for r in caplog.records)
    with Store(data, site_id=SITE, check=False) as store:
        assert delete_expired(store, stored_before=float("inf")).deleted == 0, \
            "its record is not deleted by retention: the recording never reached the central"


def test_a_refused_segment_is_offered_again_after_the_operator_fixes_it(pki, central, data, tmp_path):
    import subprocess
    import sys
    calls = [recorded_call(i, data / "recordings", recipient(), seconds=1.0) for i in (1, 2)]
    store_records(data, calls)
    (seg,) = calls[0].recording.segments
    path = data / "recordings" / seg.name
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))   # damaged: the central refuses it
    config = mtls_config(pki, central.address)
    with Site(config, data) as site:
        wait_for(lambda: site.status()["rejected"] == 1 and site.status()["uploaded"] == 1, 20,
                 message="one refused, one uploaded")
    path.write_bytes(original)                                   # the technician puts the good copy back
    toml = tmp_path / "appliance.toml"
    toml.write_text(f'[site]\nid = "{SITE}"\ndata_dir = "{data}"\n[control]\nsocket = "{tmp_path / "none.sock"}"\n')

    def reoffer(*args):
        return subprocess.run([sys.executable, "-m", "appliance", "recording", "reoffer", *args, "--config", str(toml)],
                              capture_output=True, text=True, timeout=60)
    done = reoffer("--call", calls[0].key, "--call", "no-such-call")
    assert done.returncode == 1 and "no-such-call: no refused or missing segment" in done.stderr
    assert "1 refused or missing segment(s) offered to the central again" in done.stdout, done.stdout
    with Site(config, data) as site:
        wait_for(lambda: site.status()["uploaded"] == 2, 20, message="the fixed segment uploaded")
        assert site.status()["rejected"] == 0
    assert sha256(central_copy(central, calls[0].key, seg.name)) == seg.sha256
    assert reoffer("--all").stdout.startswith("0 refused")       # nothing left to offer
