"""Throughput of the SendGrid adapter against a fake provider on loopback.

A fake SendGrid (``channels.testing.FakeProvider``, its own process) answers every
request after ``--latency`` seconds. With ``--concurrency`` requests in flight the best
possible rate is ``concurrency / latency`` (the bound). The same run measures a bare httpx
loop (same payloads prebuilt, same concurrency, no adapter: once with httpx's default
pool, once with the adapters' sharded pool, see ``channels.transport``) and the adapter itself
(``SendgridChannel.send``: payload built with the sendgrid helpers per message, retries,
receipts), checks the fake counted every message exactly once, and prints JSON.

    .venv/bin/python benchmarks/dispatch.py [--messages 3000] [--latency 0.05] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import httpx
from pydantic import SecretStr

from channels.base import OutboundMessage
from channels.sendgrid import SendgridChannel, SendgridSettings, build_payload
from channels.testing import FakeProvider
from channels.transport import pooled_client


def _messages(count: int, prefix: str) -> list[OutboundMessage]:
    return [
        OutboundMessage(
            message_id=f"{prefix}-{index}",
            channel="email",
            to=f"talent{index}@example.com",
            sender="charlotte@acme.example",
            sender_name="Charlotte Bellet",
            subject="A question about your work at Acme",
            text="Hello,\n\nwould you have ten minutes this week?\n\nCharlotte",
            html="<p>Hello,</p><p>would you have ten minutes this week?</p><p>Charlotte</p>",
            enrollment_id=index,
            campaign="bench",
            step_id="intro",
            reply_token=f"tok{index}",
            unsubscribe_url=f"https://nurture.example/unsubscribe/{index}",
        )
        for index in range(count)
    ]


def _plain_client(settings: SendgridSettings) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=settings.concurrency)
    return httpx.AsyncClient(limits=limits, timeout=settings.timeout)


async def _bare_httpx(
    settings: SendgridSettings, messages: list[OutboundMessage], client: httpx.AsyncClient
) -> float:
    payloads = [build_payload(message, settings) for message in messages]  # not timed
    url = f"{settings.base_url}/v3/mail/send"
    headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}
    semaphore = asyncio.Semaphore(settings.concurrency)
    async with client:

        async def post(payload: dict[str, Any]) -> None:
            async with semaphore:
                (await client.post(url, json=payload, headers=headers)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(payload) for payload in payloads))
        return time.perf_counter() - started


async def _adapter(settings: SendgridSettings, messages: list[OutboundMessage]) -> float:
    channel = SendgridChannel(settings)
    try:
        started = time.perf_counter()
        receipts = await channel.send(messages)
        elapsed = time.perf_counter() - started
    finally:
        await channel.aclose()
    failed = [receipt for receipt in receipts if not receipt.ok]
    if failed:
        raise SystemExit(f"{len(failed)} sends failed, first: {failed[0].error}")
    return elapsed


def _check_counts(fake: FakeProvider, messages: list[OutboundMessage]) -> None:
    counts = fake.counts()
    wrong = [m.message_id for m in messages if counts.get(m.message_id) != 1]
    if wrong:
        raise SystemExit(f"{len(wrong)} messages not counted exactly once, e.g. {wrong[0]}")


async def run(count: int, latency: float, concurrency: int) -> dict[str, Any]:
    with FakeProvider(latency=latency) as fake:
        settings = SendgridSettings(
            api_key=SecretStr("SG.benchmark"), base_url=fake.url, concurrency=concurrency
        )
        await _adapter(settings, _messages(concurrency, "warmup"))
        plain_messages = _messages(min(count, 1000), "plain")  # slow: keep the run short
        bare_messages = _messages(count, "bare")
        adapter_messages = _messages(count, "adapter")
        plain = await _bare_httpx(settings, plain_messages, _plain_client(settings))
        pooled = pooled_client(settings.concurrency, settings.timeout)
        bare = await _bare_httpx(settings, bare_messages, pooled)
        cpu = time.process_time()
        adapter = await _adapter(settings, adapter_messages)
        cpu = time.process_time() - cpu
        for batch in (plain_messages, bare_messages, adapter_messages):
            _check_counts(fake, batch)
    bound = concurrency / latency
    return {
        "benchmark": "dispatch.sendgrid",
        "messages": count,
        "latency_s": latency,
        "concurrency": concurrency,
        "bound_per_s": round(bound, 1),
        "bare_httpx_default_pool_per_s": round(len(plain_messages) / plain, 1),
        "bare_httpx_per_s": round(count / bare, 1),
        "adapter_per_s": round(count / adapter, 1),
        "adapter_vs_bound": round(count / adapter / bound, 3),
        "adapter_vs_bare_httpx": round(bare / adapter, 3),
        "adapter_cpu_ms_per_message": round(cpu / count * 1000, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_vs_bound": 0.7,
        "meets_target": count / adapter / bound >= 0.7,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.messages, args.latency, args.concurrency)), indent=2))


if __name__ == "__main__":
    main()
