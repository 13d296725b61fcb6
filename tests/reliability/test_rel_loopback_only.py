"""The collector binds loopback only: from another interface address of this machine, and
from another host, its port is closed while it serves on 127.0.0.1.

The other interface is one this test makes: a network namespace (a separate "host") joined to
this one by a veth pair with link-local addresses, so no traffic can leave the machine. A
listener on that made-up address is the positive control: reachable the same way, so the
probe would see an exposed collector. Without the rights to make one (not root, no `ip`),
the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_support import Figures, layer_env, sandbox_for

from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

HOST_ADDRESS = "169.254.213.1"  # link-local: never routed beyond the veth pair
PEER_ADDRESS = "169.254.213.2"
PROBE = ("import socket, sys\n"
         "s = socket.socket(); s.settimeout(2)\n"
         "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))\n")


def _ip(*args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["ip", *(["netns", "exec", namespace, "ip"] if namespace else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture(scope="module")
def other_host() -> Iterator[str]:
    """A network namespace reachable at PEER_ADDRESS, this machine being HOST_ADDRESS to it."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("making a network namespace needs root and iproute2's `ip`")
    name = f"hr{uuid.uuid4().hex[:8]}"
    veth = f"{name}a"
    steps = [
        (("netns", "add", name), None),
        (("link", "add", veth, "type", "veth", "peer", "name", f"{name}b"), None),
        (("link", "set", f"{name}b", "netns", name), None),
        (("addr", "add", f"{HOST_ADDRESS}/30", "dev", veth), None),
        (("link", "set", veth, "up"), None),
        (("addr", "add", f"{PEER_ADDRESS}/30", "dev", f"{name}b"), name),
        (("link", "set", f"{name}b", "up"), name),
        (("link", "set", "lo", "up"), name),
    ]
    try:
        for args, namespace in steps:
            done = _ip(*args, namespace=namespace)
            if done.returncode != 0:
                pytest.skip(f"cannot make a network namespace here: {done.stderr.strip()}")
        yield name
    finally:
        _ip("link", "del", veth)
        _ip("netns", "del", name)


def _connects_from_here(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def _connects_from(namespace: str, address: str, port: int) -> bool:
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", PROBE,
                           address, str(port)], capture_output=True, text=True, timeout=15,
                          check=True)
    return done.stdout.strip() == "0"


def test_the_collector_is_reachable_on_loopback_only(
        other_host: str, layer_zip: Path, upstream: UpstreamServer, tmp_path: Path,
        figures: Figures) -> None:
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{tmp_path / 'r.jsonl'}")
    port = int(env["HTTPRECAP_PORT"])
    # The control listens on the made-up interface only (never on the machine's real ones).
    with socket.create_server((HOST_ADDRESS, 0)) as control:
        control_port = control.getsockname()[1]
        with sandbox_for("work", [layer_zip], env, timeout_s=10, freeze=False) as sandbox:
            assert sandbox.invoke({"calls": 2}).ok
            seen = {
                "loopback": _connects_from_here("127.0.0.1", port),
                "thisHostsOtherAddress": _connects_from_here(HOST_ADDRESS, port),
                "fromAnotherHost": _connects_from(other_host, HOST_ADDRESS, port),
                "controlFromAnotherHost": _connects_from(other_host, HOST_ADDRESS,
                                                         control_port),
                "controlOnOtherAddress": _connects_from_here(HOST_ADDRESS, control_port),
            }
    figures.record("collector-loopback-only", reachable=seen, address=HOST_ADDRESS)
    assert seen == {"loopback": True, "thisHostsOtherAddress": False,
                    "fromAnotherHost": False, "controlFromAnotherHost": True,
                    "controlOnOtherAddress": True}
