"""The committed gRPC/protobuf stubs in appliance/v1/ are exactly what proto/ generates today."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def test_committed_stubs_match_the_proto_files(tmp_path):
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "proto" / "appliance" / "v1").glob("*.proto"))
    assert protos, "no .proto files found"
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", *protos],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    fresh = {p.name: p.read_text() for p in (tmp_path / "appliance" / "v1").iterdir()}
    committed = {p.name: p.read_text() for p in (ROOT / "appliance" / "v1").iterdir()
                 if p.name.endswith(GENERATED_SUFFIXES)}
    assert sorted(fresh) == sorted(committed), "a stub is missing or left over: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run `make proto` and commit the result"
