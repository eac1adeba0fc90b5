"""Who is calling: a site or a CRM subscriber, from the mTLS client certificate; what each may do."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import grpc

from appliance.ops.pki import crm_name_from_cert, site_id_from_cert

SITE, CRM, ANYONE = "site", "crm", "plaintext"


@dataclass(frozen=True)
class Peer:
    """kind is SITE or CRM (from the certificate), or ANYONE in plaintext mode (tests and demos), where
    a site's claim (Hello.site_id) is trusted and every method is open."""
    kind: str
    name: str = ""


@functools.lru_cache(maxsize=1024)
def peer_of_pem(pem: bytes) -> Peer:
    """Raises ValueError when the certificate names neither a site nor a CRM client."""
    crm = crm_name_from_cert(pem)
    if crm is not None:
        return Peer(CRM, crm)
    return Peer(SITE, site_id_from_cert(pem))


async def peer_identity(context: grpc.aio.ServicerContext, mtls: bool) -> Peer:
    if not mtls:
        return Peer(ANYONE)
    pems = context.auth_context().get("x509_pem_cert") or []
    if not pems:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
    try:
        return peer_of_pem(bytes(pems[0]))
    except ValueError as exc:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"client certificate names no site: {exc}")


_MAY_NOT = {CRM: "a CRM certificate ({name}) may not {action}; only site certificates may",
            SITE: "a site certificate ({name}) may not {action}; use a CRM client certificate"}


async def _require_not(context: grpc.aio.ServicerContext, mtls: bool, refused: str, action: str) -> Peer:
    peer = await peer_identity(context, mtls)
    if peer.kind == refused:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, _MAY_NOT[refused].format(name=peer.name, action=action))
    return peer


async def require_site(context: grpc.aio.ServicerContext, mtls: bool, action: str) -> Peer:
    """The calling site; a CRM certificate is refused (PERMISSION_DENIED): CRM clients only read."""
    return await _require_not(context, mtls, CRM, action)


async def require_crm(context: grpc.aio.ServicerContext, mtls: bool, action: str) -> Peer:
    """The calling CRM client; a site certificate is refused (PERMISSION_DENIED)."""
    return await _require_not(context, mtls, SITE, action)


async def check_claim(context: grpc.aio.ServicerContext, peer: Peer, claimed: str, what: str) -> str:
    """The site a message speaks for: its claim, which must be the certificate's site (INVALID_ARGUMENT
    when empty, PERMISSION_DENIED when another site's)."""
    if not claimed:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what}.site_id is empty")
    if peer.kind == SITE and claimed != peer.name:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"{what} names site {claimed!r} but the client certificate is for site {peer.name!r}")
    return claimed
