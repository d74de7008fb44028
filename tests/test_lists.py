"""API.md: every list returns next_cursor, newest first by default, and refuses a limit
outside 1..500 or a bad cursor with 422."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from conftest import Api, Env

# path, the body of a new item (n: 0, 1, 2), the field naming an item in the list
LISTS: list[tuple[str, Any, str]] = [
    (
        "/v1/departments",
        lambda n: {"code": f"d{n}", "name": f"部门{n}", "platform": "convenience"},
        "code",
    ),
    ("/v1/routing-rules", lambda n: {"topic": f"t{n}"}, "topic"),
    (
        "/v1/members",
        lambda n: {"id": f"m{n}", "name": f"党员{n}", "branch": "b", "kind": "in_service"},
        "id",
    ),
    ("/v1/principals", lambda n: {"name": f"p{n}", "role": "viewer"}, "name"),
    ("/v1/grids", lambda n: {"code": f"c{n}", "name": f"县{n}", "level": "county"}, "code"),
    ("/v1/dispute-kinds", lambda n: {"code": f"k{n}", "name": f"类{n}"}, "code"),
    (
        "/v1/webhook-subscriptions",
        lambda n: {"url": f"https://hooks.example.org/{n}", "events": ["*"]},
        "url",
    ),
]


@pytest.mark.parametrize(("path", "body", "name"), LISTS, ids=[p for p, _, _ in LISTS])
async def test_reference_lists_are_newest_first_and_page(
    api: Api, env: Env, path: str, body: Any, name: str
) -> None:
    made = []
    for n in range(3):
        env.clock.advance(timedelta(minutes=1))
        r = await api.post(path, body(n))
        assert r.status_code == 201, r.text
        made.append(body(n)[name])
    listed = [i[name] for i in (await api.get(path, params={"limit": 500})).json()["items"]]
    ours = [x for x in listed if x in made]
    assert ours == made[::-1], listed
    assert listed[: len(ours)] == ours  # newer than anything seeded before

    paged: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, params=params)).json()
        paged += [i[name] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == listed

    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "!!bad!!"}):
        r = await api.get(path, params=bad)
        assert r.status_code == 422, (bad, r.text)
