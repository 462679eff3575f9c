"""Peak memory of ``kianda-sync run`` as the input grows: it should stay flat.

Each size is synced by a ``kianda-sync run`` child process against an emulator in
another process (holding its instances in memory, so only the tool is measured);
the figure is the child's peak resident set size, as the kernel reports it when the
child exits. The input is streamed and the results workbook written as it goes, so
the peak should not follow the number of rows.

    python benchmarks/memory.py [--rows 50000 100000 200000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import emulator, table, write_mapping, write_rows


def peak_rss_of_run(
    mapping: Path, source: Path, url: str, token: str, folder: Path
) -> tuple[float, float, int]:
    """Run one sync in a child process: (seconds, peak RSS in MiB, exit code)."""
    env = {
        **os.environ,
        "KIANDA_DOMAIN": url,
        "KIANDA_TOKEN": token,
        "KIANDA_LEDGER": str(folder / f"{source.stem}.ledger.sqlite3"),
        "KIANDA_CONCURRENCY": "16",
    }
    results = folder / f"{source.stem}.results.xlsx"
    command = [sys.executable, "-m", "sync", "-q", "run", str(mapping), str(source)]
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, "-o", str(results)], env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    """Sync each size once and print its time and the run's peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1000, 50_000, 100_000, 200_000]
    )
    args = parser.parse_args()

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mapping = write_mapping(folder)
        for rows in args.rows:
            source = write_rows(folder / f"staff-{rows}.csv", rows)
            with emulator() as server:
                seconds, peak, code = peak_rss_of_run(
                    mapping, source, server.url, server.token, folder
                )
            lines.append(
                [f"{rows:,}", f"{seconds:.0f}", f"{rows / seconds:.0f}", f"{peak:.0f}"]
            )
            print(f"{rows} rows: {peak:.0f} MiB, exit {code}", file=sys.stderr)
    print("kianda-sync run, CSV input, results .xlsx, concurrency 16, latency 0 ms:")
    print(table(["rows", "seconds", "rows/s", "peak RSS MiB"], lines))


if __name__ == "__main__":
    main()
