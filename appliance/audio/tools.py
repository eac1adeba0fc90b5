"""Recording tools: `keys generate`, `recording info | decrypt | salvage` (exit 0 ok, 1 integrity, 2 usage/key)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .age import AgeError, AgeKeyError, Identity, NoIdentityMatch, load_identities
from .segment_join import JoinResult, decrypt_segments
from .segment_meta import SegmentFileInfo, inspect

EXIT_OK, EXIT_INTEGRITY, EXIT_USAGE = 0, 1, 2
IDENTITY_FILE = "identity.txt"
RECIPIENTS_FILE = "recipients.txt"


class ToolError(Exception):
    """A usage or key problem (exit 2), as opposed to an integrity failure (exit 1)."""


def generate_keys(out_dir: Path) -> str:
    """Create the central's identity (0600, never printed) and recipients.txt in `out_dir`; return the recipient.

    Refuses to overwrite either file: a lost identity means every recording made for it is lost.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in (IDENTITY_FILE, RECIPIENTS_FILE):
        if (out_dir / name).exists():
            raise ToolError(f"{out_dir / name} already exists: not overwriting keys")
    identity = Identity.generate()
    recipient = str(identity.recipient)
    text = f"# recording identity of the central: keep secret, keep a backup\n# public key: {recipient}\n" \
           f"{identity.encode()}\n"
    fd = os.open(out_dir / IDENTITY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    (out_dir / RECIPIENTS_FILE).write_text(recipient + "\n")
    return recipient


def info_dict(info: SegmentFileInfo) -> dict:
    m = info.meta
    return {"file": str(info.path), "call_key": m.call_key, "segment": m.index, "first_sample": m.first_sample,
            "sample_rate": m.sample_rate, "channels": m.channels, "bytes": info.size, "sha256": info.sha256,
            "recipients": list(m.recipients), "complete": info.complete, "state": info.state,
            "samples": info.samples}


def format_info(info: SegmentFileInfo) -> str:
    m = info.meta
    seconds = info.samples / m.sample_rate
    return "\n".join([
        f"{info.path}",
        f"  call key:    {m.call_key}",
        f"  segment:     {m.index} (starts at sample {m.first_sample}, {m.first_sample / m.sample_rate:.3f} s)",
        f"  audio:       {m.sample_rate} Hz, {m.channels} channel(s), S16LE; "
        f"{'' if info.complete else 'at least '}{seconds:.3f} s",
        f"  size:        {info.size} bytes, sha256 {info.sha256}",
        f"  recipients:  {', '.join(m.recipients)}",
        f"  complete:    {'yes' if info.complete else 'NO'} ({info.state})",
    ])


def _identities(path: str) -> list[Identity]:
    try:
        return load_identities(path)
    except AgeKeyError as exc:
        raise ToolError(str(exc)) from None


def _describe(result: JoinResult, salvage: bool) -> str:
    lines = []
    if result.truncated:
        lines.append(f"segment {result.cut_segment} was cut (no final chunk): recovered "
                     f"{result.cut_recovered_samples / result.sample_rate:.3f} s from its authentic chunks"
                     + (f", dropped {result.dropped_bytes} bytes of an incomplete chunk" if result.dropped_bytes
                        else ""))
    elif salvage:
        lines.append("nothing was cut: every segment ends with its final chunk")
    lines.append(f"wrote {result.out}: call {result.call_key}, {result.segments} segment(s), "
                 f"{result.seconds:.3f} s, {result.sample_rate} Hz, {result.channels} channel(s)"
                 + ("; TRUNCATED" if result.truncated else ""))
    return "\n".join(lines)


def _wrong_identity_hint(paths: Sequence[str], identities: list[Identity]) -> str:
    mine = {i.recipient.fingerprint for i in identities}
    for path in paths:
        try:
            theirs = inspect(path).meta.recipients
        except AgeError:
            continue
        if not mine & set(theirs):
            return (f"; {Path(path).name} is encrypted to recipient(s) {', '.join(theirs)}, "
                    f"the identity given is {', '.join(sorted(mine))}")
    return ""


def cmd_keys_generate(args) -> int:
    recipient = generate_keys(Path(args.out))
    print(f"identity written to {Path(args.out) / IDENTITY_FILE} (0600; keep it secret and backed up)")
    print(f"recipient (public; configure it on every site) written to {Path(args.out) / RECIPIENTS_FILE}:")
    print(recipient)
    return EXIT_OK


def cmd_info(args) -> int:
    infos, failed = [], 0
    for path in args.files:
        if not os.path.isfile(path):
            raise ToolError(f"{path}: no such file")
        try:
            infos.append(inspect(path))
        except AgeError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failed += 1
    if args.json:
        print(json.dumps([info_dict(i) for i in infos], indent=2))
    else:
        print("\n".join(format_info(i) for i in infos))
    return EXIT_INTEGRITY if failed else EXIT_OK


def _cmd_decrypt(args, salvage: bool) -> int:
    identities = _identities(args.identity)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ToolError(f"output directory {out.parent} does not exist")
    try:
        result = decrypt_segments([Path(p) for p in args.files], identities, out, salvage=salvage)
    except NoIdentityMatch as exc:
        raise ToolError(f"{exc}{_wrong_identity_hint(args.files, identities)}") from None
    os.chmod(out, 0o600)
    print(_describe(result, salvage))
    return EXIT_OK


def build_parser(extra=None) -> argparse.ArgumentParser:
    """`extra(subparsers)` may add more `recording` subcommands (the top-level CLI adds pause/resume)."""
    parser = argparse.ArgumentParser(prog="appliance", description="Recording keys and encrypted segments.")
    top = parser.add_subparsers(dest="group", required=True)
    keys = top.add_parser("keys", help="the central's recording identity and recipient")
    ksub = keys.add_subparsers(dest="command", required=True)
    gen = ksub.add_parser("generate", help="create identity.txt (secret, 0600) and recipients.txt (public)")
    gen.add_argument("--out", required=True, metavar="DIR")
    gen.set_defaults(func=cmd_keys_generate)

    rec = top.add_parser("recording", help="inspect, decrypt or salvage age-encrypted recording segments")
    rsub = rec.add_subparsers(dest="command", required=True)
    info = rsub.add_parser("info", help="what a segment shows without the key (header only)")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    for name, salvage, text in (
            ("decrypt", False, "decrypt and join one call's segments into a WAV; any tamper is an error"),
            ("salvage", True, "like decrypt, but keep the authentic chunks of a segment cut by a crash")):
        p = rsub.add_parser(name, help=text)
        p.add_argument("--identity", required=True, metavar="FILE", help="identity file (AGE-SECRET-KEY-1...)")
        p.add_argument("files", nargs="+", metavar="IN")
        p.add_argument("--out", required=True, metavar="OUT.wav")
        p.set_defaults(func=lambda args, s=salvage: _cmd_decrypt(args, s))
    if extra is not None:
        extra(rsub)
    return parser


def main(argv: Sequence[str] | None = None, extra=None) -> int:
    """`keys generate --out DIR` | `recording info|decrypt|salvage ...` -> exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(extra).parse_args(argv)
    except SystemExit as exc:         # argparse: --help is 0, a usage error 2
        return int(exc.code or 0)
    try:
        return args.func(args)
    except ToolError as exc:
        print(f"appliance {args.group}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AgeError as exc:
        print(f"appliance {args.group}: integrity error: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except OSError as exc:
        print(f"appliance {args.group}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def keys_main(argv: Sequence[str] | None = None) -> int:
    """For the top-level CLI's delegation: `appliance keys ...` (argv after `keys`)."""
    return main(["keys", *(sys.argv[2:] if argv is None else argv)])


def recording_main(argv: Sequence[str] | None = None, extra=None) -> int:
    """For the top-level CLI's delegation: `appliance recording ...` (argv after `recording`)."""
    return main(["recording", *(sys.argv[2:] if argv is None else argv)], extra)


if __name__ == "__main__":
    raise SystemExit(main())
