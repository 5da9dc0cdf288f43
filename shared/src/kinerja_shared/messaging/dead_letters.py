"""Dead letters: list and replay them (``kinerja-dlq list`` / ``kinerja-dlq replay``).

A dead letter keeps the original bytes and, in headers, the consumer, the original subject and
stream sequence, the number of deliveries and the reason. Replay publishes the original bytes
back to the original subject under a new ``Nats-Msg-Id`` (so the server's de-duplication does
not drop it); consumers that already applied the event skip it through their inbox (same event
id), and the one that failed applies it. A replayed dead letter is removed from the stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
import typer
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table

from kinerja_shared.messaging.consumer import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_REASON,
    DLQ_STREAM_SEQ,
    DLQ_SUBJECT,
)
from kinerja_shared.messaging.nats_auth import OPERATOR, client_options
from kinerja_shared.messaging.streams import DEAD_LETTER_STREAM
from kinerja_shared.settings import ServiceSettings


@dataclass
class DeadLetter:
    seq: int
    consumer: str
    subject: str
    original_seq: str
    deliveries: str
    reason: str
    data: bytes


async def list_dead_letters(js: JetStreamContext, consumer: str | None = None) -> list[DeadLetter]:
    info = await js.stream_info(DEAD_LETTER_STREAM)
    letters: list[DeadLetter] = []
    # An empty stream: a new one reports first_seq 0 = last_seq 0 (and asking for message 0
    # is a 400 from the server), a purged one first_seq = last_seq + 1.
    if not info.state.messages or info.state.first_seq > info.state.last_seq:
        return letters
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            raw = await js.get_msg(DEAD_LETTER_STREAM, seq)
        except NotFoundError:  # deleted after a replay
            continue
        headers = raw.headers or {}
        letter = DeadLetter(
            seq=seq,
            consumer=headers.get(DLQ_CONSUMER, ""),
            subject=headers.get(DLQ_SUBJECT, ""),
            original_seq=headers.get(DLQ_STREAM_SEQ, ""),
            deliveries=headers.get(DLQ_DELIVERIES, ""),
            reason=headers.get(DLQ_REASON, ""),
            data=raw.data or b"",
        )
        if consumer is None or letter.consumer == consumer:
            letters.append(letter)
    return letters


async def replay_dead_letter(js: JetStreamContext, letter: DeadLetter) -> None:
    await js.publish(
        letter.subject,
        letter.data,
        headers={"Nats-Msg-Id": f"replay:{DEAD_LETTER_STREAM}:{letter.seq}"},
        timeout=5,
    )
    await js.delete_msg(DEAD_LETTER_STREAM, letter.seq)


cli = typer.Typer(help="List and replay dead letters (messages no consumer could apply).")


async def _connect() -> tuple[nats.NATS, JetStreamContext]:
    # As the operator user (KINERJA_NATS_USER / KINERJA_NATS_PASSWORD), the only one that may
    # republish another service's events; a cluster is a comma-separated KINERJA_NATS_URL.
    nc = await nats.connect(**client_options(ServiceSettings(), default_user=OPERATOR))
    return nc, nc.jetstream()


@cli.command("list")
def list_command(consumer: str | None = typer.Option(None, help="only this consumer")) -> None:
    async def run() -> None:
        nc, js = await _connect()
        try:
            letters = await list_dead_letters(js, consumer)
        finally:
            await nc.close()
        if not letters:
            Console().print(f"no dead letters{f' for consumer {consumer}' if consumer else ''}")
            return
        table = Table("seq", "consumer", "subject", "deliveries", "reason")
        for letter in letters:
            table.add_row(str(letter.seq), letter.consumer, letter.subject, letter.deliveries, letter.reason)
        Console().print(table)
        Console().print(f"{len(letters)} dead letter(s)")

    asyncio.run(run())


@cli.command("replay")
def replay_command(
    consumer: str | None = typer.Option(None, help="only this consumer's letters"),
    seq: int | None = typer.Option(None, help="only this dead letter"),
) -> None:
    async def run() -> None:
        nc, js = await _connect()
        try:
            letters = await list_dead_letters(js, consumer)
            chosen = [l for l in letters if seq is None or l.seq == seq]
            for letter in chosen:
                await replay_dead_letter(js, letter)
        finally:
            await nc.close()
        Console().print(f"replayed {len(chosen)} dead letter(s)")

    asyncio.run(run())
