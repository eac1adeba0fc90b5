"""Recordings: resumable upload of encrypted segments (offer -> durable offset -> chunks -> hash check)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc

from appliance.central.identity import check_claim
from appliance.central.recording_files import PartialSegment, UnsafeName, file_sha256, segment_path
from appliance.central.store import RecordingRow, StoreUnavailable
from appliance.central.cdr_writer import utc_now
from appliance.ops.masking import mask_text
from appliance.v1 import cdr_pb2, recordings_pb2

log = logging.getLogger("appliance.central")

RECORDINGS_SERVICE = "appliance.v1.Recordings"
MAX_CHUNK = 1 << 20
CONTINUE, COMPLETE = recordings_pb2.UPLOAD_CONTINUE, recordings_pb2.UPLOAD_COMPLETE
REJECTED, RETRY_LATER = recordings_pb2.UPLOAD_REJECTED, recordings_pb2.UPLOAD_RETRY_LATER


def _answer(status: int, offset: int = 0, reason: str = "") -> recordings_pb2.UploadResponse:
    return recordings_pb2.UploadResponse(status=status, offset=offset, reason=reason)


def _segment_of(payload: bytes, index: int) -> cdr_pb2.RecordingSegment | None:
    for segment in cdr_pb2.CallRecord.FromString(payload).recording.segments:
        if segment.index == index:
            return segment
    return None


def _mismatch(offer: recordings_pb2.UploadOffer, segment: cdr_pb2.RecordingSegment) -> str:
    if offer.name != segment.name:
        return f"name {offer.name!r} is not the call record's {segment.name!r}"
    if offer.size != segment.bytes:
        return f"size {offer.size} is not the call record's {segment.bytes}"
    if offer.sha256.lower() != segment.sha256.lower():
        return "sha256 is not the call record's"
    return ""


class RecordingsService:
    """One Upload stream per segment. Files live under recordings_dir/<site>/<call key>/<name>; metadata
    rows go to the database once the ciphertext is complete and matches the call record. File work runs
    on its own threads and uploads are limited in number, so they never hold up CDRs or live events."""

    def __init__(self, central, recordings_dir: Path | None, max_uploads: int = 8):
        self._central = central
        self.dir = recordings_dir
        self._slots = asyncio.Semaphore(max_uploads)
        self.completed = 0
        self.rejected = 0

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(RECORDINGS_SERVICE, {
            "Upload": grpc.stream_stream_rpc_method_handler(
                self.upload, request_deserializer=recordings_pb2.UploadRequest.FromString,
                response_serializer=recordings_pb2.UploadResponse.SerializeToString),
        })

    async def upload(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        central = self._central
        peer, first = await central.open_site_stream(context, "upload recordings")
        if first is None:
            return
        if first.WhichOneof("body") != "offer":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message of an Upload must be an UploadOffer")
        offer = first.offer
        site_id = await check_claim(context, peer, offer.site_id, "UploadOffer")
        if self.dir is None:
            await context.write(_answer(RETRY_LATER, reason="this central has no recordings directory"))
            return
        if self._slots.locked():
            await context.write(_answer(RETRY_LATER, reason="central busy with other uploads"))
            return
        async with self._slots:
            answer = await self._run(context, site_id, offer)
        if answer.status == REJECTED:
            self.rejected += 1
            log.warning("site %s recording %s segment %d rejected: %s", site_id, mask_text(offer.call_key),
                        offer.index, answer.reason)
        elif answer.status == COMPLETE:
            self.completed += 1

    async def _run(self, context, site_id: str, offer) -> recordings_pb2.UploadResponse:
        central = self._central
        try:
            final, relative = segment_path(self.dir, site_id, offer.call_key, offer.name)
        except UnsafeName as exc:
            return await self._send(context, _answer(REJECTED, reason=str(exc)))
        try:
            payload = await central.pool.call("misc", "record_payload", site_id, offer.call_key)
        except StoreUnavailable as exc:
            central.db_failed(exc)
            return await self._send(context, _answer(RETRY_LATER, reason="central storage error"))
        if payload is None:
            return await self._send(context, _answer(RETRY_LATER, reason="the call record has not arrived yet"))
        segment = _segment_of(payload, offer.index)
        if segment is None:
            return await self._send(context, _answer(REJECTED, reason=f"the call record has no segment {offer.index}"))
        problem = _mismatch(offer, segment)
        if problem:
            return await self._send(context, _answer(REJECTED, reason=f"offer does not match the call record: {problem}"))
        row = RecordingRow(site_id, offer.call_key, offer.index, offer.name, offer.size, segment.sha256.lower(),
                           relative, "")
        files = central.pool.run_plain
        if await files("files", final.exists):
            try:
                stored = await central.pool.call("misc", "recording", site_id, offer.call_key, offer.index)
            except StoreUnavailable as exc:
                central.db_failed(exc)
                return await self._send(context, _answer(RETRY_LATER, reason="central storage error"))
            if stored is not None and stored.sha256 == row.sha256:
                return await self._send(context, _answer(COMPLETE, offer.size))
            return await self._send(context, await self._complete(row, final, verify=True))
        partial = PartialSegment(final)
        offset = await files("files", partial.open)
        if offset is None:
            return await self._send(context, _answer(RETRY_LATER, reason="this segment is being uploaded on another stream"))
        try:
            if offset > offer.size:
                await files("files", partial.restart)
                offset = 0
            if offset == offer.size:
                return await self._send(context, await self._finish(partial, row))
            await context.write(_answer(CONTINUE, offset))
            while True:
                request = await central.read(context)
                if request is None:
                    return _answer(CONTINUE, offset)          # resumes from offset next time
                if request.WhichOneof("body") != "chunk":
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "after the offer an Upload carries only chunks")
                chunk = request.chunk
                if len(chunk.data) > MAX_CHUNK:
                    return await self._send(context, _answer(REJECTED, offset, f"chunk larger than {MAX_CHUNK} bytes"))
                if chunk.offset != offset:
                    await context.write(_answer(CONTINUE, offset, f"expected data from offset {offset}"))
                    continue
                if offset + len(chunk.data) > offer.size:
                    await files("files", partial.discard)
                    return await self._send(context, _answer(REJECTED, 0, "more bytes than the offered size"))
                offset = await files("files", partial.append, chunk.data)
                if offset < offer.size:
                    await context.write(_answer(CONTINUE, offset))
                    continue
                return await self._send(context, await self._finish(partial, row))
        finally:
            await files("files", partial.close)

    async def _finish(self, partial: PartialSegment, row: RecordingRow) -> recordings_pb2.UploadResponse:
        files = self._central.pool.run_plain
        digest = await files("files", partial.sha256)
        if digest != row.sha256:
            await files("files", partial.discard)
            return _answer(REJECTED, 0, f"sha256 mismatch: received {digest}, the call record says {row.sha256}; "
                                        "the partial upload was removed")
        await files("files", partial.finish)
        return await self._complete(row, partial.final, verify=False)

    async def _complete(self, row: RecordingRow, final: Path, *, verify: bool) -> recordings_pb2.UploadResponse:
        """The file is in place: make sure its metadata row is too (after a crash between the two)."""
        central = self._central
        if verify:
            digest = await central.pool.run_plain("files", file_sha256, final)
            if digest != row.sha256:
                return _answer(REJECTED, 0, "a different file with this name is already stored")
        try:
            await central.pool.call("misc", "store_recording", row._replace(stored_at=utc_now()))
        except StoreUnavailable as exc:
            central.db_failed(exc)
            return _answer(RETRY_LATER, row.size, "central storage error")
        return _answer(COMPLETE, row.size)

    @staticmethod
    async def _send(context, answer: recordings_pb2.UploadResponse) -> recordings_pb2.UploadResponse:
        await context.write(answer)
        return answer
