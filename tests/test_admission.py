"""Admission: requests beyond the limit wait and are served in arrival order."""

from __future__ import annotations

import asyncio

import httpx

from hotline.admission import AdmissionMiddleware

from conftest import ADMIN_TOKEN, Env


async def test_under_overload_no_request_is_overtaken() -> None:
    """Eight clients send 200 requests each, back to back, through two slots: every
    request enters in the order it arrived (SQLAlchemy's pool queue, which this replaces,
    let newcomers overtake a waiter again and again: seconds of waiting for a few)."""
    arrived = 0
    entered: list[int] = []
    inside = most = 0

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        entered.append(scope["arrival"])
        for _ in range(3):  # work with awaits inside, like a query
            await asyncio.sleep(0)
        inside -= 1

    gated = AdmissionMiddleware(app, limit=2)  # type: ignore[arg-type]

    async def client() -> None:
        nonlocal arrived
        for _ in range(200):
            scope = {"type": "http", "path": "/v1/tickets", "arrival": arrived}
            arrived += 1
            await gated(scope, None, None)  # type: ignore[arg-type]

    await asyncio.gather(*(client() for _ in range(8)))
    assert most == 2
    assert len(entered) == 1600
    assert entered == sorted(entered)


async def test_health_and_metrics_are_never_queued() -> None:
    blocked = asyncio.Event()

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["path"] == "/slow":
            await blocked.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    gated = AdmissionMiddleware(app, limit=1)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gated), base_url="http://t"
    ) as client:
        slow = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.01)
        health = await asyncio.wait_for(client.get("/healthz"), 1)
        assert health.status_code == 200
        blocked.set()
        assert (await slow).status_code == 200


async def test_a_slow_upload_does_not_hold_a_slot(env: Env, client: httpx.AsyncClient) -> None:
    """The guard reads a body before its request is admitted: clients trickling their
    bodies cannot take every slot (the test app admits 5 at once)."""
    stalled = asyncio.Event()

    async def ignore(_message: dict[str, object]) -> None:
        return None

    def upload() -> dict[str, object]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/departments",
            "raw_path": b"/v1/departments",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"authorization", f"Bearer {ADMIN_TOKEN}".encode()),
                (b"content-type", b"application/json"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }

    uploads = []
    for _ in range(env.settings.db_pool_size + 2):
        sent_one: list[dict[str, object]] = []

        async def receive(box: list[dict[str, object]] = sent_one) -> dict[str, object]:
            if not box:
                box.append({})
                return {"type": "http.request", "body": b'{"code": "x', "more_body": True}
            await stalled.wait()
            return {"type": "http.disconnect"}

        uploads.append(asyncio.create_task(env.app(upload(), receive, ignore)))
    await asyncio.sleep(0.05)
    try:
        answer = await asyncio.wait_for(
            client.get("/v1/departments", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
            5,
        )
        assert answer.status_code == 200
    finally:
        stalled.set()
        await asyncio.gather(*uploads, return_exceptions=True)
