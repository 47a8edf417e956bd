"""The Toxiproxy client against a tiny in-process HTTP server that keeps proxies the way Toxiproxy does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from harness.nemesis.faults import NetworkFault
from harness.stack.ports import free_ports
from harness.stack.toxiproxy import Toxic, Toxiproxy, ToxiproxyError


class FakeToxiproxy(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.proxies: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeToxiproxy

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((method, self.path, body))
        proxies = self.server.proxies
        parts = self.path.strip("/").split("/")
        if parts == ["reset"]:
            for proxy in proxies.values():
                proxy.update(enabled=True, toxics=[])
            return self._reply(204)
        if parts == ["proxies"] and method == "GET":
            return self._reply(200, proxies)
        if parts == ["proxies"]:
            if body["name"] in proxies:
                return self._reply(409, {"error": "proxy already exists", "status": 409})
            proxies[body["name"]] = {**body, "toxics": []}
            return self._reply(201, proxies[body["name"]])
        proxy = proxies.get(parts[1])
        if proxy is None:
            return self._reply(404, {"error": "proxy not found", "status": 404})
        if len(parts) == 2:
            if method == "POST":
                proxy.update(body)
            return self._reply(200, proxy)
        if method == "POST":
            proxy["toxics"].append(body)
            return self._reply(200, body)
        proxy["toxics"] = [t for t in proxy["toxics"] if t["name"] != parts[3]]
        return self._reply(204)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


@pytest.fixture
def server() -> Iterator[FakeToxiproxy]:
    server = FakeToxiproxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_creates_a_proxy_and_reads_it_back(server: FakeToxiproxy) -> None:
    client = Toxiproxy(server.api)
    made = client.create_proxy("kafka", "127.0.0.1:1000", "127.0.0.1:2000")
    assert server.requests[-1] == (
        "POST",
        "/proxies",
        {"name": "kafka", "listen": "127.0.0.1:1000", "upstream": "127.0.0.1:2000", "enabled": True},
    )
    assert made.enabled
    assert made.toxics == ()
    assert client.proxies() == {"kafka": made}


def test_toxics_are_added_with_their_attributes_and_cleared_by_name(server: FakeToxiproxy) -> None:
    client = Toxiproxy(server.api)
    client.create_proxy("cassandra", "127.0.0.1:1001", "127.0.0.1:2001")
    client.add_toxic("cassandra", Toxic("slow", "latency", attributes={"latency": 650, "jitter": 350}))
    client.add_toxic("cassandra", Toxic("rst", "reset_peer", stream="upstream", attributes={"timeout": 0}))
    assert server.requests[-2][2] == {
        "name": "slow",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 650, "jitter": 350},
    }
    client.set_enabled("cassandra", False)
    assert client.proxy("cassandra").toxics == ("slow", "rst")
    assert not client.proxy("cassandra").enabled

    healed = client.clear("cassandra")

    assert healed.enabled
    assert healed.toxics == ()
    deletes = [path for method, path, _ in server.requests if method == "DELETE"]
    assert deletes == ["/proxies/cassandra/toxics/slow", "/proxies/cassandra/toxics/rst"]


def test_reset_enables_every_proxy(server: FakeToxiproxy) -> None:
    client = Toxiproxy(server.api)
    client.create_proxy("kafka", "127.0.0.1:1000", "127.0.0.1:2000")
    client.set_enabled("kafka", False)
    client.reset()
    assert client.proxy("kafka").enabled


def test_an_api_error_carries_the_status_and_the_servers_message(server: FakeToxiproxy) -> None:
    client = Toxiproxy(server.api)
    client.create_proxy("kafka", "127.0.0.1:1000", "127.0.0.1:2000")
    with pytest.raises(ToxiproxyError, match=r"HTTP 409: .*proxy already exists"):
        client.create_proxy("kafka", "127.0.0.1:1000", "127.0.0.1:2000")
    with pytest.raises(ToxiproxyError, match="HTTP 404"):
        client.set_enabled("nope", True)


def test_a_server_that_is_not_there_is_named() -> None:
    client = Toxiproxy(f"http://127.0.0.1:{free_ports(1)[0]}", timeout_s=2)
    with pytest.raises(ToxiproxyError, match=r"does not answer at http://127\.0\.0\.1:.*is it running"):
        client.proxies()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (NetworkFault("cut", ("kafka",)), {"kafka": (False, ()), "cassandra": (True, ())}),
        (NetworkFault("reset", ("cassandra",)), {"kafka": (True, ()), "cassandra": (True, ("tally-reset",))}),
        (
            NetworkFault("latency", ("kafka", "cassandra")),
            {"kafka": (True, ("tally-latency",)), "cassandra": (True, ("tally-latency",))},
        ),
    ],
    ids=str,
)
def test_a_network_fault_acts_on_its_links_only(
    server: FakeToxiproxy, fault: NetworkFault, expected: dict[str, tuple[bool, tuple[str, ...]]]
) -> None:
    client = Toxiproxy(server.api)
    client.create_proxy("kafka", "127.0.0.1:1000", "127.0.0.1:2000")
    client.create_proxy("cassandra", "127.0.0.1:1001", "127.0.0.1:2001")
    fault.inject(SimpleNamespace(toxiproxy_api=server.api))  # type: ignore[arg-type]
    assert {name: (p.enabled, p.toxics) for name, p in client.proxies().items()} == expected
