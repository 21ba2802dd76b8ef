"""The daemon's side of one prober worker: its shard, its process and connection, and the messages it is sent.

Messages go out in order. While the worker is given its shard (ProberPool._spawn sends it in chunks) later
messages wait in `held`; a change too large for one frame (`send_chunks`: a reload that changed every endpoint)
goes out one chunk per event-loop step, in `outgoing`, so that neither the daemon's loop nor the worker's is
held for the seconds that pickling, sending and applying 100,000 endpoints at once took (4.5-5.5 s of the
daemon's loop at a load of 6-10, one 17 MB frame; benchmarks/README.md, session 12). Messages sent meanwhile
follow the chunks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from slowatch.config.endpoints import Endpoint
from slowatch.workers.protocol import encode

logger = logging.getLogger(__name__)

Message = tuple[object, ...]


@dataclass
class WorkerLink:
    index: int
    shard: dict[str, Endpoint] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    alive: bool = False
    in_flight: int = 0
    cancelled: int = 0
    task: asyncio.Task[None] | None = None
    last_seen: float = 0.0
    ready: bool = False  # its "ready" came: it schedules and probes its shard (until then /readyz says it is down)
    held: list[Message] | None = None  # while its shard is being sent: messages to send after it
    outgoing: deque[Message] | None = None  # chunks of a large change going out one per loop step, then the rest
    pump: asyncio.Task[None] | None = None

    def send(self, message: Message) -> None:
        if self.held is not None:  # a reload or stop while the shard goes out in chunks: after "start", in order
            self.held.append(message)
        elif self.outgoing is not None:  # after the chunks of a large change
            self.outgoing.append(message)
        elif self.alive and self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode(message))

    def send_chunks(self, messages: list[Message]) -> None:
        """Send `messages` in order, each encoded and written in an event-loop step of its own."""
        if len(messages) <= 1 or self.held is not None or self.outgoing is not None:
            for message in messages:
                self.send(message)
            return
        if not self.alive or self.writer is None or self.writer.is_closing():
            return  # (its next start sends the shard, these changes included)
        self.outgoing = deque(messages)
        self.pump = asyncio.get_running_loop().create_task(self._pump(self.writer, self.outgoing))

    async def _pump(self, writer: asyncio.StreamWriter, outgoing: deque[Message]) -> None:
        try:
            while outgoing and self.outgoing is outgoing and not writer.is_closing():
                writer.write(encode(outgoing.popleft()))
                await writer.drain()  # (a worker slow to read: wait for it, not buffer every chunk)
                await asyncio.sleep(0)  # the loop's other callbacks between two chunks
        except ConnectionError:
            pass  # the worker went away: its supervisor restarts it with its shard (these changes included)
        finally:
            if self.outgoing is outgoing:
                self.outgoing = None
                for message in outgoing:  # what was sent after the chunks, if the connection still takes it
                    self.send(message)

    def restarted(self) -> None:
        """A new process is being given the shard: what was still going out to the old one is in it already."""
        self.outgoing = None
        if self.pump is not None:
            self.pump.cancel()
            self.pump = None


__all__ = ["Message", "WorkerLink"]
