"""One segment's upload on its own stream: offer, the central's durable offset, paced chunks read on a thread."""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import grpc

from appliance.store.uploads import SegmentWork
from appliance.sync.connect import describe
from appliance.v1 import recordings_pb2

UPLOAD_METHOD = "/appliance.v1.Recordings/Upload"
MAX_CHUNK = 1 << 20                  # the central refuses larger chunks
COMPLETE, REJECTED, RETRY, MISSING = "complete", "rejected", "retry", "missing"
_ANSWERS = {recordings_pb2.UPLOAD_COMPLETE: COMPLETE, recordings_pb2.UPLOAD_REJECTED: REJECTED,
            recordings_pb2.UPLOAD_RETRY_LATER: RETRY}


class CentralTrouble(Exception):
    """The central or the network failed mid-upload (not a verdict on the segment): fail over."""


@dataclass(frozen=True)
class Verdict:
    """How one upload attempt of a segment ended."""
    kind: str                 # COMPLETE | REJECTED | RETRY | MISSING
    reason: str = ""
    resumed_at: int = 0       # the central's durable offset when offered (> 0: a resumed upload)


class Pacer:
    """Spaces chunks so that every upload together stays under `bytes_per_s` (pure; clock injected)."""

    def __init__(self, bytes_per_s: float, clock: Callable[[], float]):
        if bytes_per_s <= 0:
            raise ValueError("bytes_per_s must be > 0")
        self.bytes_per_s = bytes_per_s
        self._clock = clock
        self._free_at = clock()

    def reserve(self, nbytes: int) -> float:
        """Book `nbytes` on the link; how long to wait before sending them."""
        now = self._clock()
        start = max(now, self._free_at)
        self._free_at = start + nbytes / self.bytes_per_s
        return start - now


class SegmentUpload:
    """Upload one segment file from the central's durable offset; `run()` returns a Verdict or raises
    CentralTrouble. File reads go through `in_thread` (never on the event loop)."""

    def __init__(self, channel: grpc.aio.Channel, item: SegmentWork, path: Path, site_id: str, *,
                 in_thread: Callable[..., Awaitable], pacer: Pacer, chunk_bytes: int, timeout_s: float,
                 on_sent: Callable[[int], None] = lambda n: None):
        if not 0 < chunk_bytes <= MAX_CHUNK:
            raise ValueError(f"chunk_bytes must be 1..{MAX_CHUNK}")
        self.channel, self.item, self.path, self.site_id = channel, item, path, site_id
        self._in_thread, self._pacer = in_thread, pacer
        self._chunk, self._timeout = chunk_bytes, timeout_s
        self._on_sent = on_sent

    async def run(self) -> Verdict:
        method = self.channel.stream_stream(UPLOAD_METHOD,
                                            request_serializer=recordings_pb2.UploadRequest.SerializeToString,
                                            response_deserializer=recordings_pb2.UploadResponse.FromString)
        call = method(wait_for_ready=False)
        fd = -1
        try:
            item = self.item
            await call.write(recordings_pb2.UploadRequest(offer=recordings_pb2.UploadOffer(
                site_id=self.site_id, call_key=item.call_key, index=item.index, name=item.name, size=item.size,
                sha256=item.sha256)))
            answer = await self._answer(call)
            if answer.status != recordings_pb2.UPLOAD_CONTINUE:
                return await self._finish(call, answer, 0)
            resumed_at = offset = self._offset(answer)
            try:
                fd = await self._in_thread(os.open, self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return Verdict(MISSING, f"local file {self.path.name} is gone and the central does not have it")
            size = (await self._in_thread(os.fstat, fd)).st_size
            if size != item.size:
                return Verdict(REJECTED, f"local file {self.path.name} is {size} bytes, the call record says "
                                         f"{item.size}: not sent")
            while True:
                want = min(self._chunk, item.size - offset)
                data = await self._in_thread(os.pread, fd, want, offset)
                if len(data) != want:
                    return Verdict(RETRY, f"local file {self.path.name} changed while being read")
                delay = self._pacer.reserve(len(data))
                if delay > 0:
                    await asyncio.sleep(delay)
                await call.write(recordings_pb2.UploadRequest(
                    chunk=recordings_pb2.UploadChunk(offset=offset, data=data)))
                self._on_sent(len(data))
                answer = await self._answer(call)
                if answer.status != recordings_pb2.UPLOAD_CONTINUE:
                    return await self._finish(call, answer, resumed_at)
                offset = self._offset(answer)
        except grpc.aio.AioRpcError as exc:
            raise CentralTrouble(describe(exc)) from None
        except asyncio.InvalidStateError:
            raise CentralTrouble("upload stream closed while writing") from None
        finally:
            if fd >= 0:
                await self._in_thread(os.close, fd)
            call.cancel()

    def _offset(self, answer: recordings_pb2.UploadResponse) -> int:
        if answer.offset >= self.item.size:
            raise CentralTrouble(f"central asked for data from offset {answer.offset} of a "
                                 f"{self.item.size}-byte segment without completing it")
        return answer.offset

    async def _answer(self, call) -> recordings_pb2.UploadResponse:
        try:
            async with asyncio.timeout(self._timeout):
                answer = await call.read()
        except TimeoutError:
            raise CentralTrouble(f"no answer to an upload for {self._timeout:g} s (central silent)") from None
        if answer is grpc.aio.EOF:
            code, details = await call.code(), await call.details()
            raise CentralTrouble(f"central ended the upload stream ({code.name}: {details})")
        return answer

    async def _finish(self, call, answer: recordings_pb2.UploadResponse, resumed_at: int) -> Verdict:
        """A final answer: close our side so the central's handler ends cleanly, and say what it meant."""
        kind = _ANSWERS.get(answer.status)
        if kind is None:
            raise CentralTrouble(f"central answered an upload with status {answer.status}")
        try:
            await call.done_writing()
            async with asyncio.timeout(self._timeout):
                await call.code()
        except (grpc.aio.AioRpcError, TimeoutError, asyncio.InvalidStateError):
            pass          # the verdict is in; how the stream closes does not change it
        return Verdict(kind, answer.reason, resumed_at)
