"""Which rule routes a ticket when several match: the order, as a pure function."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hotline.routing.models import RoutingRule
from hotline.routing.service import Facts, best_rule

AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
FACTS = Facts(
    kind="petition",
    category="help",
    topic="water_supply",
    urgency="normal",
    grid_lineage=("G-07", "G-0", "G"),
)


def rule(rule_id: int, *, at: datetime = AT, priority: int = 0, **fields: str) -> RoutingRule:
    return RoutingRule(
        id=uuid.UUID(int=rule_id), priority=priority, created_at=at, department_code="x", **fields
    )


def test_the_most_specific_rule_wins_then_priority_then_age_then_the_lower_id() -> None:
    topic = rule(5, topic="water_supply")
    both = rule(9, topic="water_supply", kind="petition")
    assert best_rule([topic, both], FACTS) is both  # more fields
    deep, shallow = rule(7, grid="G-07"), rule(3, grid="G")
    assert best_rule([shallow, deep], FACTS) is deep  # deeper grid
    low, high = rule(1, topic="water_supply"), rule(2, topic="water_supply", priority=5)
    assert best_rule([low, high], FACTS) is high  # higher priority
    old = rule(8, topic="water_supply", at=AT - timedelta(days=1))
    assert best_rule([topic, old], FACTS) is old  # older
    same = [rule(i, topic="water_supply") for i in (0xB, 0xA, 0xC)]
    assert best_rule(same, FACTS) is same[1]  # created together: the lower id
    assert best_rule([rule(4, topic="road_damage")], FACTS) is None
