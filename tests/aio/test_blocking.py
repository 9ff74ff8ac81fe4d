"""The blocking, socket-like API (one shared background I/O thread)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from pykcp import Config, KCPError, KCPTimeoutError, SessionClosedError, blocking

CONFIG = Config.preset(
    "fast3", crypt="aes", key="blocking", data_shards=10, parity_shards=3, sndwnd=256, rcvwnd=256
)


def _echo_forever(listener: blocking.BlockingListener) -> None:
    def serve(conn: blocking.BlockingConnection) -> None:
        with conn:
            try:
                while True:
                    conn.sendall(conn.recv(65536))
            except KCPError:
                pass

    try:
        while True:
            conn = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    except KCPError:
        pass


@pytest.fixture
def echo_server() -> object:
    listener = blocking.listen(("127.0.0.1", 0), CONFIG)
    thread = threading.Thread(target=_echo_forever, args=(listener,), daemon=True)
    thread.start()
    yield listener
    listener.close()
    thread.join(5)


def test_echo_and_recv_into(echo_server: blocking.BlockingListener) -> None:
    with blocking.dial(echo_server.address, CONFIG, timeout=10) as conn:
        payload = os.urandom(200_000)
        conn.sendall(payload)
        assert conn.recvexactly(len(payload)) == payload
        conn.send(b"into")
        buffer = bytearray(16)
        got = 0
        while got < 4:
            got += conn.recv_into(memoryview(buffer)[got:], 4 - got)
        assert bytes(buffer[:4]) == b"into"
        assert conn.getpeername()[1] == echo_server.address[1]
        assert conn.getsockname()[0] in ("0.0.0.0", "127.0.0.1")


def test_many_threads_share_one_io_thread(echo_server: blocking.BlockingListener) -> None:
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with blocking.dial(echo_server.address, CONFIG, timeout=10) as conn:
                for count in range(10):
                    message = f"{index}-{count}".encode()
                    conn.sendall(message)
                    assert conn.recvexactly(len(message)) == message
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    io_threads = [t for t in threading.enumerate() if t.name == "pykcp-io"]
    assert len(io_threads) == 1


def test_recv_timeout_and_settimeout() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        with blocking.dial(silent.getsockname(), Config(), timeout=0.2) as conn:
            assert conn.gettimeout() == 0.2
            started = time.monotonic()
            with pytest.raises(KCPTimeoutError):
                conn.recv(10)
            assert time.monotonic() - started >= 0.15
            conn.settimeout(0.05)
            with pytest.raises(TimeoutError):  # socket.timeout is TimeoutError
                conn.recv(10)
            with pytest.raises(ValueError):
                conn.settimeout(-1)
    finally:
        silent.close()


def test_accept_timeout_and_close() -> None:
    listener = blocking.listen(("127.0.0.1", 0))
    with pytest.raises(KCPTimeoutError):
        listener.accept(timeout=0.1)
    listener.close()
    listener.close()  # idempotent, like socket.close
    with pytest.raises(SessionClosedError):
        listener.accept(timeout=1)


def test_recv_after_close_raises(echo_server: blocking.BlockingListener) -> None:
    conn = blocking.dial(echo_server.address, CONFIG, timeout=5)
    conn.close()
    conn.close()
    assert conn.closed
    with pytest.raises(SessionClosedError):
        conn.recv(1)
    with pytest.raises(SessionClosedError):
        conn.sendall(b"x")


def test_non_blocking_mode_returns_what_is_there(echo_server: blocking.BlockingListener) -> None:
    with blocking.dial(echo_server.address, CONFIG, timeout=10) as conn:
        conn.sendall(b"ready")
        deadline = time.monotonic() + 10
        conn.setblocking(False)
        assert conn.gettimeout() == 0.0
        data = b""
        while len(data) < 5 and time.monotonic() < deadline:
            try:
                data += conn.recv(5 - len(data))
            except KCPTimeoutError:
                time.sleep(0.01)
        assert data == b"ready"
        with pytest.raises(KCPTimeoutError):
            conn.recv(1)


def test_makefile(echo_server: blocking.BlockingListener) -> None:
    with blocking.dial(echo_server.address, CONFIG, timeout=10) as conn:
        binary = conn.makefile("rwb")
        binary.write(b"first line\n")
        binary.flush()
        assert binary.readline() == b"first line\n"
        text = conn.makefile("rw", encoding="utf-8", newline="\n")
        text.write("second line\nh\u00e9llo\n")
        text.flush()
        assert text.readline() == "second line\n"
        assert text.readline() == "h\u00e9llo\n"
        with pytest.raises(ValueError):
            conn.makefile("x")


def test_option_setters_run_on_the_io_thread(echo_server: blocking.BlockingListener) -> None:
    with blocking.dial(echo_server.address, CONFIG, timeout=10) as conn:
        conn.set_nodelay(1, 10, 2, 1)
        conn.set_window_size(64, 64)
        assert conn.set_mtu(1200)
        conn.set_stream_mode(False)
        conn.set_write_delay(False)
        conn.set_ack_nodelay(True)
        conn.sendall(b"still works")
        assert conn.recvexactly(11) == b"still works"
        assert conn.snmp.BytesSent == 11
