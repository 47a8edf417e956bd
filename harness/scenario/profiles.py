"""The catalogue's profiles: named sets of scenarios, from the gate that runs on every change to deep."""

from __future__ import annotations

from typing import Literal

Profile = Literal["gate", "quick", "deep"]
PROFILES: tuple[Profile, ...] = ("gate", "quick", "deep")
