"""Helpers for the console's browser tests: Chromium's launch, signed-in pages, screenshots."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def unavailable(reason: str) -> NoReturn:
    """Skip locally, but fail under CI: there the browser tests must run."""
    message = f"browser tests not run: {reason} (install with scripts/console-deps.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " - under CI this is a failure", pytrace=False)
    pytest.skip(message)


@dataclass
class Console:
    """Opens signed-in pages on the console and records what the browser complained of."""

    base: str
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def page(self, *, bypass_csp: bool = False, viewport: dict[str, int] = DESKTOP) -> Page:
        context = await self.browser.new_context(
            base_url=self.base,
            viewport=viewport,  # type: ignore[arg-type]
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            bypass_csp=bypass_csp,
            accept_downloads=True,
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(10_000)

        def on_console(message: Any) -> None:
            # A refused fetch (401 before sign-in, a 404 ticket) is logged too: not a fault.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.problems.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page

    async def open(self, token: str, *, where: str = "", **kw: Any) -> Page:
        """A new browser (its own cookies) signed in with the token, on the page it lands on."""
        page = await self.page(**kw)
        await page.goto(f"/console/{where}")
        await sign_in(page, token)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_label("令牌", exact=True).fill(token)
    await page.get_by_role("button", name="登录", exact=True).click()
    await page.get_by_role("button", name="退出", exact=True).wait_for()


async def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def action(
    page: Page, name: str, fill: Callable[[Page], Awaitable[None]] | None = None
) -> None:
    """Click the ticket page's action button, fill its small form, submit it."""
    await page.get_by_role("button", name=name, exact=True).click()
    dialog = page.locator("dialog[open]")
    await dialog.wait_for()
    if fill is not None:
        await fill(page)
    await dialog.get_by_role("button", name=name, exact=True).click()
    await dialog.wait_for(state="hidden")


async def status_shown(page: Page, status: str) -> None:
    await page.locator("dl.facts dd .badge-info", has_text=re.compile(f"^{status}$")).wait_for()
