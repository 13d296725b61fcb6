"""Ports handed to processes that listen later: outside the range outgoing connections use."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from httprecap.sandbox import ports


def test_a_port_is_free_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    port = ports.free_port()
    assert ports.LOWEST <= port < low
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))  # free: a listener takes it


def test_outgoing_connections_never_take_a_chosen_port() -> None:
    """Every local port an outgoing connection gets is one the helper would never choose."""
    chosen = {ports.free_port() for _ in range(50)}
    with socket.create_server(("127.0.0.1", 0)) as server:
        clients = [socket.create_connection(server.getsockname()) for _ in range(50)]
        try:
            taken = {client.getsockname()[1] for client in clients}
        finally:
            for client in clients:
                client.close()
    assert len(chosen) == 50  # none handed out twice
    assert min(taken) >= max(chosen)


def test_a_port_in_use_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    draw = ports.random.randrange
    with socket.create_server(("127.0.0.1", 0)) as busy:  # a port this helper never gave
        port = busy.getsockname()[1]
        draws = iter([port])
        monkeypatch.setattr(ports.random, "randrange",
                            lambda low, high: next(draws, None) or draw(low, high))
        assert ports.free_port() != port


def test_without_room_below_the_ephemeral_range_any_free_port(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = tmp_path / "ip_local_port_range"
    narrow.write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "RANGE_FILE", narrow)
    port = ports.free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))


def test_no_port_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sandboxes given their ports before either listens must not share one."""
    first = ports.free_port()
    draw = ports.random.randrange
    draws = iter([first])
    monkeypatch.setattr(ports.random, "randrange",
                        lambda low, high: next(draws, None) or draw(low, high))
    assert ports.free_port() != first
