"""Run one command and report its wall time and peak resident memory as one JSON line.

Run this in a fresh Python process so that ``RUSAGE_CHILDREN`` covers only the measured command
(and its own children, e.g. ``uv run`` and the Python it starts). The command is killed when it
exceeds the time limit or when its process tree holds more than the memory limit.

Usage: python measure.py TIMEOUT_S MAX_RSS_MB -- COMMAND [ARG ...]
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * page
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    timeout_s, max_rss_mb, command = float(argv[0]), float(argv[1]), argv[3:]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    outcome = {"killed": None, "tree_peak_mb": 0.0}

    def watch() -> None:
        while child.poll() is None:
            tree_mb = _tree_rss_bytes(child.pid) / 2**20
            outcome["tree_peak_mb"] = max(float(outcome["tree_peak_mb"] or 0.0), tree_mb)
            elapsed = time.perf_counter() - started
            reason = None
            if tree_mb > max_rss_mb:
                reason = f"memory above {max_rss_mb:.0f} MB"
            elif elapsed > timeout_s:
                reason = f"time above {timeout_s:.0f} s"
            if reason:
                outcome["killed"] = reason
                os.killpg(child.pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = child.communicate()
    wall_s = time.perf_counter() - started
    watcher.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "command": command,
        "returncode": child.returncode,
        "wall_s": wall_s,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
        "tree_peak_mb": outcome["tree_peak_mb"],
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "killed": outcome["killed"],
        "stdout_tail": stdout[-4000:],
        "stderr_tail": stderr[-4000:],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
