"""Callers' data at rest, audited reveals, retention, key rotation, tokens and abuse limits."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline.app import create_app
from hotline.auth import service as auth
from hotline.limiter import RateLimiter
from hotline.privacy import maintenance
from hotline.privacy.vault import Vault, new_key_text, parse_key

from conftest import ADMIN_TOKEN, DATA_KEY, Api, Env

PHONE = "13812345678"


async def setup(api: Api) -> dict[str, Api]:
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water")
    return {
        "op": api.as_(await api.principal("operator")),
        "sup": api.as_(await api.principal("supervisor")),
        "water": api.as_(await api.principal("department", department_code="water")),
        "roads": api.as_(await api.principal("department", department_code="roads")),
        "viewer": api.as_(await api.principal("viewer")),
    }


async def dump(env: Env, *tables: str) -> str:
    """Every value of these tables as text: what a stolen database file would show."""
    async with env.runtime.db.transaction(write=False) as session:
        text = []
        for table in tables:
            rows = (await session.execute(sa.text(f"SELECT * FROM {table}"))).all()
            text.extend(str(tuple(r)) for r in rows)
    return "\n".join(text)


async def test_phone_is_encrypted_at_rest_and_found_by_blind_index(api: Api, env: Env) -> None:
    p = await setup(api)
    t = await p["op"].ticket(
        caller={"name": "保密人", "phone": "+86 138 1234 5678", "confidential": True},
        headers={"Idempotency-Key": "k1"},
    )
    assert t["caller"] == {
        "name": "保密人",
        "phone": "138****5678",
        "special_groups": [],
        "confidential": True,
    }
    stored = await dump(env, "tickets", "ticket_events", "idempotency_keys", "timers")
    assert PHONE not in stored and "保密人" not in stored
    assert "v1:" in stored
    found = (await p["op"].get("/v1/tickets", params={"caller_phone": "+8613812345678"})).json()[
        "items"
    ]
    assert [x["id"] for x in found] == [t["id"]]
    assert (await p["op"].get("/v1/tickets", params={"caller_phone": "13900000000"})).json()[
        "items"
    ] == []
    assert (await p["water"].get("/v1/tickets", params={"caller_phone": PHONE})).status_code == 403
    r = await p["op"].get("/v1/tickets", params={"caller_phone": "12"})
    assert r.status_code == 422


async def test_reveal_is_scoped_and_audited(api: Api, env: Env) -> None:
    p = await setup(api)
    open_t = await p["op"].ticket(caller={"name": "张三", "phone": PHONE})
    secret_t = await p["op"].ticket(
        caller={"name": "李四", "phone": "13900001111", "confidential": True}
    )
    path = f"/v1/tickets/{open_t['id']}/caller"
    r = await p["op"].get(path, params={"reason": "回访需要"}, headers={"X-Request-ID": "req-42"})
    assert r.json() == {"name": "张三", "phone": PHONE}
    assert r.headers["cache-control"] == "no-store"
    assert (await p["sup"].get(path, params={"reason": "督办"})).status_code == 200
    assert (await p["water"].get(path, params={"reason": "上门"})).json()["phone"] == PHONE
    assert (await p["roads"].get(path, params={"reason": "x" * 3})).status_code == 404
    assert (await p["viewer"].get(path, params={"reason": "看看"})).status_code == 403
    assert (await p["op"].get(path)).status_code == 422
    # Scope (404) before role (403) before the reason (422): an app reads only its own.
    app = api.as_(await api.principal("app"))
    own = await app.ticket(caller={"name": "王五", "phone": PHONE})
    assert (await app.get(path, params={"reason": "核实"})).status_code == 404
    assert (await app.get(f"/v1/tickets/{own['id']}/caller")).status_code == 403
    assert (await p["viewer"].get(path)).status_code == 403
    assert (await p["roads"].get(path)).status_code == 404
    assert (await p["water"].get(path, params={"reason": "x"})).status_code == 422
    secret = f"/v1/tickets/{secret_t['id']}/caller"
    assert (await p["water"].get(secret, params={"reason": "上门"})).status_code == 403
    assert (await p["op"].get(secret, params={"reason": "核实"})).json()["name"] == "李四"

    audit = (await api.get("/v1/audit", params={"action": "caller.revealed"})).json()["items"]
    assert len(audit) == 4
    # The clock stands still in tests: find the first reveal by its request id.
    first = next(e for e in audit if e["request_id"] == "req-42")
    assert first["reason"] == "回访需要" and first["request_id"] == "req-42"
    assert first["subject_id"] == open_t["id"] and first["role"] == "operator"
    assert (await p["op"].get("/v1/audit")).status_code == 403
    admin_actions = {
        e["action"] for e in (await api.get("/v1/audit", params={"limit": 500})).json()["items"]
    }
    assert {"department.created", "routing_rule.created", "principal.created"} <= admin_actions


async def test_audit_log_cannot_be_changed_through_the_api(api: Api) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        r = await api.client.request(
            method, "/v1/audit", headers={"Authorization": api._headers(None)["Authorization"]}
        )
        assert r.status_code == 405


async def test_purge_anonymises_closed_callers_only(api: Api, env: Env) -> None:
    p = await setup(api)
    r = await api.post(
        "/v1/webhook-subscriptions", {"url": "https://hooks.example.org/h", "events": ["*"]}
    )
    assert r.status_code == 201, r.text
    old = await p["op"].ticket(caller={"name": "王五", "phone": PHONE})
    await p["water"].act(old, "accept")
    await p["water"].act(old, "resolve", {"result": "ok"})
    closed = await p["op"].act(old, "review", {"satisfaction": "satisfied", "resolved": True})
    still_open = await p["op"].ticket(caller={"name": "赵六", "phone": "13900002222"})
    env.clock.advance(timedelta(days=400))
    scope = maintenance.PurgeScope(closed_before=env.clock.now() - timedelta(days=30))
    assert await maintenance.count_to_purge(env.runtime.db, scope) == 1
    assert await maintenance.purge_callers(env.runtime.db, scope, env.clock.now()) == 1
    assert await maintenance.purge_callers(env.runtime.db, scope, env.clock.now()) == 0
    gone = (await p["op"].get(f"/v1/tickets/{old['id']}")).json()
    assert gone["caller"]["name"] is None and gone["caller"]["phone"] is None
    assert gone["status"] == "closed" and gone["satisfaction"] == "satisfied"
    # The ticket as returned changed: its version and updated_at say so.
    assert gone["version"] == closed["version"] + 1
    purged_at = env.clock.now().isoformat().replace("+00:00", "Z")
    assert gone["updated_at"] == purged_at
    since = (await p["op"].get("/v1/tickets", params={"updated_since": purged_at})).json()
    assert [t["id"] for t in since["items"]] == [old["id"]]
    kept = (await p["op"].get(f"/v1/tickets/{still_open['id']}")).json()
    assert kept["caller"]["name"] == "赵六" and kept["version"] == still_open["version"]
    # Nor does the outbox keep the purged caller, delivered or not.
    sent = (await api.get("/v1/webhook-deliveries", params={"limit": 500})).json()["items"]
    callers = {
        (d["payload"]["data"]["ticket"]["id"], d["payload"]["data"]["ticket"]["caller"]["name"])
        for d in sent
    }
    assert callers == {(old["id"], None), (still_open["id"], "赵六")}


async def test_key_rotation_reencrypts_and_search_still_works(api: Api, env: Env) -> None:
    p = await setup(api)
    for i in range(3):
        await p["op"].ticket(caller={"name": f"n{i}", "phone": PHONE, "confidential": i == 0})
    await api.post(
        "/v1/members",
        {"id": "m", "name": "m", "phone": "13700001111", "branch": "b", "kind": "mobile"},
    )
    # Sealed elsewhere too: a dispute party's phone, an idempotent answer kept for replays.
    await api.post("/v1/grids", {"code": "C", "name": "县", "level": "county"})
    party = {"name": "甲", "role": "applicant", "phone": "13600001111"}
    body = {"kind": "other", "parties": [party], "summary": "纠纷", "grid": "C"}
    keyed = {"Idempotency-Key": "rotate-1"}
    first = await api.post("/v1/disputes", body, headers=keyed)
    assert first.status_code == 201, first.text
    async with env.runtime.db.transaction() as session:
        answers = await session.scalar(sa.text("SELECT count(*) FROM idempotency_keys"))
    new_key = parse_key(new_key_text())
    new = Vault(new_key, [parse_key(DATA_KEY)])
    assert await maintenance.count_to_rotate(env.runtime.db, new) == 4 + 1 + answers
    assert await maintenance.rotate_keys(env.runtime.db, new) == 4 + 1 + answers
    assert await maintenance.count_to_rotate(env.runtime.db, new) == 0
    assert await maintenance.rotate_keys(env.runtime.db, new) == 0
    old_keys = env.runtime.keys
    env.runtime.keys = Vault(new_key, [])  # the old key retired
    new = env.runtime.keys
    try:
        again = await api.post("/v1/disputes", body, headers=keyed)
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        async with env.runtime.db.transaction() as session:
            (parties,) = (await session.execute(sa.text("SELECT parties FROM disputes"))).one()
        sealed = (json.loads(parties) if isinstance(parties, str) else parties)[0]["phone_enc"]
        assert new.decrypt(sealed) == "13600001111"
        found = (await p["op"].get("/v1/tickets", params={"caller_phone": PHONE})).json()["items"]
        assert len(found) == 3
        names = set()
        for t in found:
            r = await p["op"].get(f"/v1/tickets/{t['id']}/caller", params={"reason": "核实"})
            assert r.json()["phone"] == PHONE
            names.add(r.json()["name"])
        assert names == {"n0", "n1", "n2"}
    finally:
        env.runtime.keys = old_keys


async def test_expired_and_revoked_tokens_are_refused_at_once(api: Api, env: Env) -> None:
    r = await api.post(
        "/v1/principals",
        {
            "name": "临时",
            "role": "operator",
            "expires_at": (env.clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    body = r.json()
    temp = api.as_(body["token"])
    assert (await temp.get("/v1/tickets")).status_code == 200
    env.clock.advance(timedelta(hours=2))
    env.runtime.tokens.clear()
    assert (await temp.get("/v1/tickets")).status_code == 401
    second = (await api.post(f"/v1/principals/{body['id']}/tokens", {})).json()
    other = api.as_(second["token"])
    assert (await other.get("/v1/tickets")).status_code == 200
    assert (
        await api.delete(f"/v1/principals/{body['id']}/tokens/{second['id']}")
    ).status_code == 204
    assert (await other.get("/v1/tickets")).status_code == 401  # no stale cache in this process
    third = (await api.post(f"/v1/principals/{body['id']}/tokens", {})).json()
    assert (await api.as_(third["token"]).get("/v1/tickets")).status_code == 200
    assert (await api.delete(f"/v1/principals/{body['id']}")).status_code == 204
    assert (await api.as_(third["token"]).get("/v1/tickets")).status_code == 401


async def test_a_start_gives_the_bootstrap_token_back_to_an_admin(api: Api, env: Env) -> None:
    """HOTLINE_BOOTSTRAP_TOKEN: an admin holding it exists after start-up, created if
    missing: deleted or revoked since, it comes back on the next start."""
    second = api.as_(
        (await api.post("/v1/principals", {"name": "二号", "role": "admin"})).json()["token"]
    )
    listed = (await second.get("/v1/principals", params={"limit": 500})).json()["items"]
    (bootstrap,) = [p for p in listed if p["name"] == "bootstrap admin"]

    async def start() -> bool:
        async with env.runtime.db.transaction() as session:
            return await auth.ensure_bootstrap_admin(session, ADMIN_TOKEN, env.clock.now())

    assert await start() is False  # held: nothing to do
    assert (await second.delete(f"/v1/principals/{bootstrap['id']}")).status_code == 204
    env.runtime.tokens.clear()
    assert (await api.get("/v1/tickets")).status_code == 401
    assert await start() is True
    assert (await api.get("/v1/tickets")).status_code == 200
    assert await start() is False


async def test_rate_limit_answers_429_with_retry_after(api: Api, env: Env) -> None:
    op = api.as_(await api.principal("operator"))
    previous = env.runtime.limiter
    env.runtime.limiter = RateLimiter("3/minute", "memory://")
    try:
        codes = [(await op.get("/v1/tickets")).status_code for _ in range(3)]
        r = await op.get("/v1/tickets")
    finally:
        env.runtime.limiter = previous
    assert codes == [200, 200, 200]
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:hotline:problem:rate-limited"


async def test_rate_limit_is_shared_through_redis(env: Env) -> None:
    import redis.asyncio as aioredis

    url = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = aioredis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:  # the machine's Redis is down
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is not reachable at {url}: {exc}")
        pytest.skip(f"Redis is not reachable at {url}: {exc}")
    finally:
        await client.aclose()
    a, b = RateLimiter("4/minute", url), RateLimiter("4/minute", url)
    try:
        key = os.urandom(8).hex()
        for limiter in (a, b, a, b):
            await limiter.check(key)
        with pytest.raises(Exception, match="requests; retry in"):
            await b.check(key)
    finally:
        await a.aclose()
        await b.aclose()


async def test_cors_is_off_unless_origins_are_listed(api: Api, env: Env) -> None:
    preflight = {"Origin": "https://console.example", "Access-Control-Request-Method": "GET"}
    r = await api.client.options("/v1/tickets", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    settings = env.settings.model_copy(update={"cors_origins": "https://console.example"})
    app = create_app(settings, env.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as c:
            r = await c.options("/v1/tickets", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://console.example"


async def test_security_headers(api: Api) -> None:
    r = await api.get("/v1/tickets")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


async def test_no_full_phone_in_logs_errors_webhooks_or_metrics(
    api: Api, env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    p = await setup(api)
    await api.post("/v1/webhook-subscriptions", {"url": "https://hooks.example/x", "events": ["*"]})
    t = await p["op"].ticket(caller={"name": "张三", "phone": PHONE})
    bodies: list[Any] = [t]
    bodies.append(
        (await p["water"].post(f"/v1/tickets/{t['id']}/actions/resolve", {"result": PHONE})).json()
    )
    bodies.append(
        (
            await p["op"].post("/v1/tickets", {"content": PHONE, "caller": {"phone": PHONE + "9"}})
        ).json()
    )
    await p["water"].act(t, "accept")
    await p["water"].act(t, "resolve", {"result": "修好了"})
    await p["op"].act(t, "review", {"satisfaction": "satisfied", "resolved": True})
    metrics = (await api.client.get("/metrics")).text
    deliveries = await dump(env, "webhook_deliveries")
    out, err = capfd.readouterr()
    for text in (out, err, metrics, deliveries, str(bodies[1:])):
        assert PHONE not in text
