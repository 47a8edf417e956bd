"""The catalogue's profiles: named sets of scenarios, from the gate that runs on every change to deep,
and `replicated`, the shortest scenario of each fault class of the replicated topology."""

from __future__ import annotations

from typing import Literal

Profile = Literal["gate", "quick", "deep", "replicated"]
PROFILES: tuple[Profile, ...] = ("gate", "quick", "deep", "replicated")
