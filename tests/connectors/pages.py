"""Reading a whole dead-letter queue through a connector's browser, page by page."""

from __future__ import annotations

from typing import Any

from eventdesk.connectors.model import Message


async def all_pages(browser: Any, **next_page: Any) -> list[Message]:
    """Every message the browser shows, in order; `next_page` keywords go to each call."""
    messages: list[Message] = []
    while True:
        page = await browser.next_page(**next_page)
        messages.extend(page.messages)
        if not page.more:
            return messages
