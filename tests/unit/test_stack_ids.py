"""The Kafka cluster id the harness generates must always be accepted by `kafka-storage format -t`."""

from __future__ import annotations

import itertools

import pytest

from harness.stack import images


def test_a_cluster_id_starting_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 is 111110..., the base64url digit "-": one draw in 64 used to make the storage tool fail.
    draws = itertools.chain([b"\xf8" + bytes(15)], itertools.repeat(bytes(16)))
    monkeypatch.setattr(images.os, "urandom", lambda n: next(draws))
    assert images.kafka_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"


def test_cluster_ids_are_22_url_safe_characters() -> None:
    ids = {images.kafka_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)
