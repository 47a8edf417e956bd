"""A small typed client of Toxiproxy's HTTP API: proxies, toxics, enable/disable, reset.

Only what the nemesis needs, on urllib: the PyPI clients of this API are unmaintained.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stream = Literal["upstream", "downstream"]


class ToxiproxyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Toxic:
    """A toxic of a proxy; `attributes` belong to its type (latency: latency, jitter; reset_peer: timeout)."""

    name: str
    type: str
    stream: Stream = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The API's JSON for the toxic: its fields, named as the API names them."""
        return asdict(self)


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[str, ...] = ()


class Toxiproxy:
    """`api` is the server's base URL, e.g. http://127.0.0.1:8474."""

    def __init__(self, api: str, timeout_s: float = 10) -> None:
        self.api = api.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            raise ToxiproxyError(f"{method} {path} -> HTTP {error.code}: {detail}") from error
        except urllib.error.URLError as error:
            raise ToxiproxyError(
                f"{method} {path}: Toxiproxy does not answer at {self.api} ({error.reason}); is it running?"
            ) from error
        return json.loads(text) if text.strip() else None

    def create_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        created = self._call(
            "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        )
        return _proxy(created)

    def proxies(self) -> dict[str, Proxy]:
        return {name: _proxy(body) for name, body in self._call("GET", "/proxies").items()}

    def proxy(self, name: str) -> Proxy:
        return _proxy(self._call("GET", f"/proxies/{name}"))

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Disabled, a proxy closes its connections and stops listening: a cut link."""
        return _proxy(self._call("POST", f"/proxies/{name}", {"enabled": enabled}))

    def add_toxic(self, proxy: str, toxic: Toxic) -> None:
        self._call("POST", f"/proxies/{proxy}/toxics", toxic.body())

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def clear(self, proxy: str) -> Proxy:
        """Remove every toxic of `proxy` and enable it: the heal of any fault on that link."""
        for toxic in self.proxy(proxy).toxics:
            self.remove_toxic(proxy, toxic)
        return self.set_enabled(proxy, True)

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._call("POST", "/reset")


def _proxy(body: dict[str, Any]) -> Proxy:
    return Proxy(
        name=body["name"],
        listen=body["listen"],
        upstream=body["upstream"],
        enabled=bool(body["enabled"]),
        toxics=tuple(t["name"] for t in body.get("toxics") or ()),
    )
