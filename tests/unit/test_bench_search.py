"""The live-rate search: grow until the consumer falls behind, then bisect; stop when narrow."""

from __future__ import annotations

from harness.bench.search import SearchPolicy, Step, best_kept_up, next_rate


def test_first_step_is_the_start() -> None:
    assert next_rate([], SearchPolicy(start=22_400)) == 22_000


def test_grows_from_the_best_rate_kept_up_with_but_not_below_the_hint() -> None:
    policy = SearchPolicy(start=30_000, max_steps=5)
    assert next_rate([Step(10_000, 10_000, True)], policy) == 30_000
    assert next_rate([Step(10_000, 10_000, True), Step(30_000, 30_000, True)], policy) == 45_000


def test_bisects_between_kept_up_and_fell_behind() -> None:
    policy = SearchPolicy(start=10_000, max_steps=5)
    steps = [Step(10_000, 10_000, True), Step(40_000, 40_000, False)]
    assert next_rate(steps, policy) == 20_000  # geometric middle


def test_falls_back_below_a_first_failure() -> None:
    policy = SearchPolicy(start=10_000, max_steps=5)
    assert next_rate([Step(10_000, 10_000, False)], policy) == 7_000


def test_stops_when_the_bracket_is_narrow_or_steps_run_out() -> None:
    policy = SearchPolicy(start=10_000, max_steps=5)
    narrow = [Step(20_000, 20_000, True), Step(22_000, 22_000, False)]
    assert next_rate(narrow, policy) is None
    assert next_rate([Step(10_000, 10_000, True)], SearchPolicy(start=10_000, max_steps=1)) is None


def test_a_generator_limited_step_ends_the_climb() -> None:
    policy = SearchPolicy(start=10_000, max_steps=5)
    # The generator sent only 60k of 100k/s and the consumer kept up: higher targets measure nothing.
    steps = [Step(50_000, 50_000, True), Step(100_000, 60_000, True)]
    assert steps[1].generator_limited
    assert next_rate(steps, policy) is None


def test_best_kept_up_is_judged_by_what_was_really_sent() -> None:
    steps = [Step(10_000, 10_000, True), Step(20_000, 18_000, True), Step(30_000, 30_000, False)]
    best = best_kept_up(steps)
    assert best is not None
    assert best.achieved_rate == 18_000
    assert best_kept_up([Step(10_000, 10_000, False)]) is None


def test_a_step_that_fell_behind_shows_the_capacity_to_try_next() -> None:
    policy = SearchPolicy(start=10_000, max_steps=5)
    # 10k/s sent, lag grew by 1.5k/s: the consumer managed 8.5k/s; try just below it.
    failed = Step(10_000, 10_000, False, lag_slope=1_500)
    assert failed.capacity == 8_500
    assert next_rate([failed], policy) == 8_000
    # Inside a bracket too, instead of the geometric middle.
    steps = [Step(10_000, 10_000, True), Step(30_000, 30_000, False, lag_slope=5_000)]
    assert next_rate(steps, policy) == 24_000


def test_a_step_that_fell_behind_bounds_the_search_even_when_the_generator_sent_less() -> None:
    policy = SearchPolicy(start=113_000, max_steps=4)
    # 113k/s asked, 98k/s sent, and the lag grew by 4.9k/s: the consumer managed 93k/s, so the
    # next step tries just below that, not the same 113k/s again (which ended the search).
    steps = [Step(10_000, 10_000, True), Step(113_000, 98_000, False, lag_slope=4_900)]
    assert steps[1].generator_limited
    assert next_rate(steps, policy) == 88_000
    # Kept up just below it: the bracket (88k, 98k) is narrow enough to stop.
    assert next_rate([*steps, Step(88_000, 88_000, True)], policy) is None
