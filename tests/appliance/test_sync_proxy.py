"""The test TCP proxy itself: forwards both ways, black-holes without closing, resumes, cuts with a reset."""
from __future__ import annotations

import socket
import threading

import pytest

from tests.helpers.tcp_proxy import TcpProxy


@pytest.fixture
def echo_server():
    """A real echo server on 127.0.0.1; yields its address."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        conns = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            threading.Thread(target=echo, args=(conn,), name="test-echo", daemon=True).start()
        for conn in conns:
            conn.close()

    def echo(conn):
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=serve, name="test-echo-accept", daemon=True)
    thread.start()
    yield "127.0.0.1:%d" % listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def test_forwards_both_ways(echo_server):
    with TcpProxy(echo_server) as proxy, connect(proxy) as sock:
        sock.sendall(b"hello")
        assert sock.recv(5) == b"hello"


def test_black_hole_holds_bytes_without_closing_and_resume_delivers_them(echo_server):
    with TcpProxy(echo_server) as proxy, connect(proxy) as sock:
        sock.sendall(b"one")
        assert sock.recv(3) == b"one"
        proxy.blackhole()
        sock.sendall(b"two")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):       # silence: no data, no FIN, no RST
            sock.recv(3)
        proxy.resume()
        sock.settimeout(5)
        assert sock.recv(3) == b"two"


def test_cut_resets_open_connections_and_accepts_new_ones(echo_server):
    with TcpProxy(echo_server) as proxy:
        with connect(proxy) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
            proxy.cut()
            with pytest.raises(ConnectionResetError):
                sock.sendall(b"y")
                sock.recv(1)
        with connect(proxy) as again:
            again.sendall(b"z")
            assert again.recv(1) == b"z"


def test_refused_upstream_resets_the_client_side():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead = "127.0.0.1:%d" % placeholder.getsockname()[1]
    with TcpProxy(dead) as proxy:
        with pytest.raises(ConnectionResetError):      # during connect or at the first read
            with connect(proxy) as sock:
                sock.recv(1)
