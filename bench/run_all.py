"""`make bench`: every benchmark in turn (figures, not pass/fail). Pass --quick for smaller runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    runs = [
        ["bench_store.py"] + (["--records", "50000"] if quick else ["--records", "500000"]),
        ["bench_ingest.py"] + (["--records", "200000"] if quick else []),
        ["bench_sync.py"] + (["--n", "200000"] if quick else []),
        ["bench_live_drain.py"] + (["--records", "100000", "--runs", "1"] if quick else []),
        ["bench_recording_crypto.py"] + (["--seconds", "600"] if quick else []),
        ["bench_audio.py"] + (["--seconds", "120", "--calls", "1,50", "--calls16", "25", "--live-seconds", "5"]
                              if quick else []),
        ["bench_agents.py"] + (["--calls", "200", "--runs", "1"] if quick else []),
        ["bench_floor.py"] + (["--calls", "20", "--runs", "1"] if quick else []),
        ["bench_disk_full.py"] + (["--seconds", "10", "--cycles", "3"] if quick else []),
        ["bench_uploads.py"] + (["--n", "50000", "--upload-mb", "100"] if quick else []),
    ]
    failed = 0
    for script, *args in runs:
        print(f"\n===== {script} {' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / script), *args]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
