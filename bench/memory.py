"""Peak memory of a command: the resident set size (RSS) of its whole process tree, sampled.

A thread polls the command's process and all its descendants (e.g. `dvc repro` and the stage's
python child) every 50 ms and keeps two peaks: the largest sum of RSS over the tree at one
sample, and the largest RSS of any one process. Pages shared between processes count once per
process in the sum, so the sum is an upper bound of what the tree holds. A spike shorter than
the interval can be missed; one sample costs a few milliseconds (a scan of /proc).

Sizes are in MB (10^6 bytes) throughout the benchmarks.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 10**6
INTERVAL_S = 0.05


@dataclass
class TreePeak:
    """The peaks seen while a process tree ran (bytes), and how many samples saw them."""

    total_bytes: int = 0  # the largest sum of RSS over the tree at one sample
    largest_bytes: int = 0  # the largest RSS of a single process
    samples: int = 0

    @property
    def total_mb(self) -> float:
        """The tree's peak summed RSS in MB (10^6 bytes)."""
        return self.total_bytes / MB

    @property
    def largest_mb(self) -> float:
        """The largest single process's peak RSS in MB (10^6 bytes)."""
        return self.largest_bytes / MB

    def as_dict(self) -> dict[str, float | int]:
        """Return the peaks in MB, rounded, for a results file."""
        return {
            "peak_mb": round(self.total_mb, 1),
            "largest_process_mb": round(self.largest_mb, 1),
            "samples": self.samples,
        }


def tree_rss(root: psutil.Process) -> tuple[int, int]:
    """Return (sum, largest) RSS in bytes over a process and its descendants.

    Processes that vanish while being read count as 0; a root already gone gives (0, 0).
    """
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:
            continue
    return sum(sizes), max(sizes, default=0)


class TreeSampler:
    """Sample a process tree's RSS in a background thread while the `with` block runs.

    `with TreeSampler(pid) as peak:` yields the TreePeak that the thread keeps updating; it is
    final once the block is left.
    """

    def __init__(self, pid: int, interval: float = INTERVAL_S) -> None:
        self.peak = TreePeak()
        self._interval = interval
        self._stop = threading.Event()
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:  # already gone: nothing to sample
            self._root = None
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while self._root is not None:
            total, largest = tree_rss(self._root)
            self.peak.total_bytes = max(self.peak.total_bytes, total)
            self.peak.largest_bytes = max(self.peak.largest_bytes, largest)
            self.peak.samples += 1
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self.peak

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_sampled(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    interval: float = INTERVAL_S,
) -> tuple[subprocess.CompletedProcess[str], TreePeak]:
    """Run a command to completion (output captured), sampling its process tree's peak RSS.

    With `check`, a non-zero exit raises RuntimeError with the end of its output, as
    `loopline.workspace.run` does.
    """
    proc = subprocess.Popen(
        list(args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with TreeSampler(proc.pid, interval) as peak:
        stdout, stderr = proc.communicate()
    result = subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
            f"{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    return result, peak
