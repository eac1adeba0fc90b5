"""systemd's file-descriptor store from the daemon's side: FDSTORE/FDSTOREREMOVE with SCM_RIGHTS against the
test supervisor, sd_listen_fds_with_names semantics, and the store's names and clean-up for devices."""
from __future__ import annotations

import os
import socket
import sys
import textwrap

import pytest

from appliance.ops.fdstore import FdStore, fd_name, split_fd_name
from appliance.ops.notify import Notifier, fdname_valid, listen_fds
from tests.helpers.supervisor import Supervisor
from tests.helpers.waiting import free_port, wait_for


@pytest.fixture
def manager():
    """The supervisor with this test process as the service's main process."""
    with Supervisor([], fd_store_max=8) as sup:
        sup.attach(os.getpid())
        yield sup


def notifier_for(manager: Supervisor) -> Notifier:
    return Notifier(environ={"NOTIFY_SOCKET": manager.notify_path})


def read_through(fd: int) -> bytes:
    with socket.socket(fileno=fd) as sock:
        sock.settimeout(5)
        return sock.recv(100)


# --- FDSTORE / FDSTOREREMOVE ----------------------------------------------------------------------

def test_a_stored_socket_is_the_same_socket_in_the_manager(manager):
    mine, peer = socket.socketpair()
    try:
        assert notifier_for(manager).store_fds("ipo.conn0", [mine.fileno()])
        assert manager.stored_names() == ["ipo.conn0"]
        assert manager.notifications[-1] == "FDSTORE=1\nFDNAME=ipo.conn0"
        mine.close()                                  # the daemon dies: its copy is gone
        peer.sendall(b"record 1\r\n")
        (copy,) = manager.copies("ipo.conn0")
        assert read_through(copy) == b"record 1\r\n"  # the bytes wait in the manager's copy
    finally:
        mine.close()
        peer.close()


def test_remove_closes_the_managers_copy_so_the_peer_sees_the_close(manager):
    mine, peer = socket.socketpair()
    try:
        notifier = notifier_for(manager)
        assert notifier.store_fds("ipo.conn0", [mine.fileno()])
        assert manager.stored_names() == ["ipo.conn0"]
        mine.close()
        peer.settimeout(0.2)
        with pytest.raises(TimeoutError):
            peer.recv(1)                              # only our copy closed: the connection lives on
        assert notifier.remove_fds("ipo.conn0")
        assert manager.stored_names() == []
        peer.settimeout(5)
        assert peer.recv(1) == b""                    # now the PBX sees the close
    finally:
        mine.close()
        peer.close()


def test_storing_the_same_socket_twice_keeps_one_copy(manager):
    mine, peer = socket.socketpair()
    with mine, peer:
        notifier = notifier_for(manager)
        assert notifier.store_fds("ipo.listen", [mine.fileno()])
        assert notifier.store_fds("ipo.listen", [mine.fileno()])
        assert manager.stored_names() == ["ipo.listen"]


@pytest.mark.parametrize("name", ["ipo:conn0", "x" * 256, "café.port", "ipo\nconn0", "ipo\x7f"])
def test_names_systemd_would_refuse_are_not_sent(manager, name):
    mine, peer = socket.socketpair()
    with mine, peer:
        assert not notifier_for(manager).store_fds(name, [mine.fileno()])
        assert not notifier_for(manager).remove_fds(name)
    assert manager.stored_names() == [] and manager.notifications == []


def test_the_longest_allowed_name_is_sent(manager):
    mine, peer = socket.socketpair()
    with mine, peer:
        assert notifier_for(manager).store_fds("n" * 255, [mine.fileno()])
        assert manager.stored_names() == ["n" * 255]


def test_without_a_manager_nothing_is_sent_and_nothing_raises():
    mine, peer = socket.socketpair()
    with mine, peer:
        assert not Notifier(environ={}).store_fds("ipo.listen", [mine.fileno()])
        assert not Notifier(environ={}).remove_fds("ipo.listen")


def test_a_manager_that_holds_a_hung_up_descriptor_drops_it(manager):
    """As systemd: POLLHUP on a stored descriptor closes and removes it (the peer is gone)."""
    mine, peer = socket.socketpair()
    with mine:
        assert notifier_for(manager).store_fds("ipo.conn0", [mine.fileno()])
        assert manager.stored_names() == ["ipo.conn0"]
        peer.close()
        wait_for(lambda: manager.stored_names() == [], 5, message="hung-up descriptor dropped")


# --- sd_listen_fds_with_names ---------------------------------------------------------------------

def test_descriptors_meant_for_another_process_are_ignored_and_the_variables_unset():
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a.listen:a.conn0",
           "LISTEN_PIDFDID": "7", "OTHER": "kept"}
    assert listen_fds(env) == []
    assert env == {"OTHER": "kept"}


@pytest.mark.parametrize("env", [
    {"LISTEN_FDS": "1"},                                                      # no LISTEN_PID
    {"LISTEN_PID": "self"},                                                   # no LISTEN_FDS
    {"LISTEN_PID": "self", "LISTEN_FDS": "two"},
    {"LISTEN_PID": "self", "LISTEN_FDS": "0"},
    {"LISTEN_PID": "self", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "only-one"},  # names must match the count
    {"LISTEN_PID": "nope", "LISTEN_FDS": "1"},
])
def test_missing_or_malformed_variables_give_nothing(env):
    env = {k: str(os.getpid()) if v == "self" else v for k, v in env.items()}
    assert listen_fds(env) == []
    assert not any(k.startswith("LISTEN_") for k in env)


CHILD = textwrap.dedent("""
    import os, signal, socket, sys
    from appliance.ops.notify import Notifier, fdname_valid, listen_fds
    got = listen_fds()
    left = sorted(k for k in os.environ if k.startswith("LISTEN_"))
    notifier = Notifier()
    if not got:
        server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
        notifier.store_fds("probe.listen", [server.fileno()])
        print("fresh", flush=True)
    else:
        (name, fd), = got
        cloexec = not os.get_inheritable(fd)
        server = socket.socket(fileno=fd)
        conn, _ = server.accept()
        print("adopted", name, fd, cloexec, left, conn.recv(100).decode(), flush=True)
    notifier.ready()
    signal.pause()                     # serve until the supervisor's kill -9
""")


def test_a_listening_socket_survives_kill_9_with_a_connection_waiting_in_it():
    """End to end through the protocol: FDSTORE=1 from one process, LISTEN_FDS in the next."""
    port = free_port()
    with Supervisor([sys.executable, "-c", CHILD, str(port)], fd_store_max=4) as sup:
        sup.start()
        wait_for(lambda: sup.stored_names() == ["probe.listen"], 5, message="listener stored")
        sup.kill()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as pbx:   # queued while nobody runs
            pbx.sendall(b"sent while down")
            sup.start()
            wait_for(lambda: any(line.startswith("adopted") for line in sup.log_lines), 10,
                     message="the restarted process took the socket over")
    assert sup.log_lines == ["fresh", "adopted probe.listen 3 True [] sent while down"]


# --- FdStore: names and start-up ------------------------------------------------------------------

@pytest.mark.parametrize("device, local", [("ipo", "listen"), ("kx-tda_1", "conn12"), ("caisse-é", "port")])
def test_names_are_valid_for_systemd_and_give_the_device_back(device, local):
    name = fd_name(device, local)
    assert fdname_valid(name)
    assert split_fd_name(name) == (device, local)


def test_each_device_takes_its_own_and_the_rest_is_closed_and_removed(manager):
    socks = [socket.socketpair() for _ in range(4)]
    try:
        notifier = notifier_for(manager)
        names = ["ipo.listen", "ipo.conn3", "gone.port", "unknown"]
        for name, (mine, _) in zip(names, socks):
            notifier.store_fds(name, [mine.fileno()])
        inherited = [(name, os.dup(mine.fileno())) for name, (mine, _) in zip(names, socks)]
        for mine, _ in socks:
            mine.close()
        store = FdStore(notifier, inherited)
        taken = store.take("ipo")
        assert sorted(taken) == ["conn3", "listen"] and store.take("ipo") == {}
        store.discard_unclaimed()
        assert sorted(manager.stored_names()) == ["ipo.conn3", "ipo.listen"]
        for _, peer in socks[2:]:
            peer.settimeout(5)
            assert peer.recv(1) == b""               # closed here and in the manager
        for fd in taken.values():
            os.close(fd)
    finally:
        for pair in socks:
            for sock in pair:
                sock.close()


def test_update_stores_what_opened_and_removes_what_closed(manager):
    mine, peer = socket.socketpair()
    with mine, peer:
        store = FdStore(notifier_for(manager))
        store.update("ipo", {"conn0": mine.fileno()}, [])
        assert manager.stored_names() == ["ipo.conn0"]
        store.update("ipo", {}, ["conn0"])
        assert manager.stored_names() == []
