"""The inbox simulation against a case solved by hand, and its edge rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_ml.replay.simulate import simulate_inbox

# 3 agents, 10 posts, 10 minutes each. Ranks: p4 and p8 urgent (0), p6 a complaint (1), the
# rest 2. Solved on paper (see the comments of each case):
ARRIVAL = np.array([0, 0, 1, 2, 3, 4, 5, 12, 25, 40], dtype=float)
RANK = np.array([2, 2, 2, 2, 0, 2, 1, 2, 0, 2])
HANDLING = np.full(10, 10.0)


def test_arrival_order_by_hand() -> None:
    # t=0: p0 -> A0, p1 -> A1; t=1: p2 -> A2. Waiting: p3, p4, p5, p6.
    # t=10: A0 takes p3, A1 takes p4; t=11: A2 takes p5; t=20: A0 takes p6, A1 takes p7;
    # t=21: A2 idles until p8 arrives at 25; t=30: A0 idles until p9 arrives at 40.
    served = simulate_inbox(ARRIVAL, HANDLING, np.zeros(10), agents=3)
    assert served.started.tolist() == [0, 0, 1, 10, 10, 11, 20, 20, 25, 40]
    assert (served.started - ARRIVAL).tolist() == [0, 0, 0, 8, 7, 7, 15, 8, 0, 0]
    assert served.agent.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert (served.answered - served.started).tolist() == [10.0] * 10


def test_priority_order_by_hand() -> None:
    # t=10: waiting p3 (2), p4 (0), p5 (2), p6 (1): A0 takes p4, A1 takes p6;
    # t=11: A2 takes p3 (rank 2, earliest); t=20: A0 takes p5, A1 takes p7 (arrived at 12);
    # t=21: A2 waits for p8 (25); t=30: A0 waits for p9 (40).
    served = simulate_inbox(ARRIVAL, HANDLING, RANK, agents=3)
    assert served.started.tolist() == [0, 0, 1, 11, 10, 20, 10, 20, 25, 40]
    assert (served.started - ARRIVAL).tolist() == [0, 0, 0, 9, 7, 16, 5, 8, 0, 0]
    # priority helps the urgent post and the complaint, the cost falls on p3 and p5
    assert served.answered[[4, 6]].tolist() == [20, 20]


def test_input_order_does_not_matter() -> None:
    perm = np.random.default_rng(0).permutation(10)
    a = simulate_inbox(ARRIVAL, HANDLING, RANK, agents=3)
    b = simulate_inbox(ARRIVAL[perm], HANDLING[perm], RANK[perm], agents=3)
    assert b.started.tolist() == a.started[perm].tolist()


def test_one_agent_serves_back_to_back_and_enough_agents_never_queue() -> None:
    one = simulate_inbox(ARRIVAL, HANDLING, np.zeros(10), agents=1)
    assert one.started.tolist() == [10.0 * i for i in range(10)]
    many = simulate_inbox(ARRIVAL, HANDLING, RANK, agents=10)
    assert many.started.tolist() == ARRIVAL.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": 0}, "at least one agent"),
        ({"handling": -np.ones(10)}, ">= 0"),
        ({"rank": np.zeros(3)}, "one value per post"),
    ],
)
def test_bad_arguments_are_clear(kwargs, message) -> None:
    args = {"arrival": ARRIVAL, "handling": HANDLING, "rank": RANK, "agents": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_inbox(**args)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 15), st.integers(0, 3)),
        min_size=1,
        max_size=30,
    ),
)
def test_agents_never_idle_while_posts_wait(agents, posts) -> None:
    arrival, handling, rank = (np.array(col, dtype=float) for col in zip(*posts, strict=True))
    served = simulate_inbox(arrival, handling, rank, agents)
    assert (served.started >= arrival).all()
    assert np.allclose(served.answered - served.started, handling)
    busy = sorted(zip(served.started, served.answered, served.agent, strict=True))
    for a in range(agents):  # one post at a time per agent
        mine = [(s, e) for s, e, g in busy if g == a]
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(mine, mine[1:], strict=False))
    for i in np.flatnonzero(served.started > arrival):
        # a post that waited found every agent busy from its arrival until it was taken
        t = arrival[i]
        working = sum(s <= t < e for s, e, _ in busy)
        assert working == agents, (i, t)
        # ... and nobody took a worse-ranked post while it waited
        later = (served.started > t) & (served.started < served.started[i])
        assert not (later & (rank > rank[i])).any()
