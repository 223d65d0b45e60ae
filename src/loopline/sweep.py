"""`loopline sweep`: a parameter grid as queued DVC experiments, grouped in MLflow.

`loopline sweep -S 'model.max_depth=3,6' -S 'model.eta=0.05,0.1' --jobs 2` is the documented
`dvc exp run --queue -S ...` grid (Hydra's choice syntax) plus `dvc queue start -j 2`, with one
addition: it first opens an MLflow parent run and queues every experiment with `sweep=<its
id>`, so the `track` stage files each run under that parent (MLflow's UI shows the sweep's runs
together, side by side). It waits for the queue, then prints `dvc exp show` with the columns
that matter, sorted by the primary metric. DVC runs only the stages whose inputs or params the
grid changes: a grid over model parameters starts at `train`.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from loopline.workspace import tool


def open_parent(dataset: str, name: str, grid: list[str]) -> str:
    """Create the MLflow parent run of a sweep; return its run id."""
    import mlflow

    from loopline import tracking

    experiment_id = tracking.start_experiment(f"loopline-{dataset}")
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"sweep {name}",
        tags={"sweep": name, "sweep.grid": " ".join(grid)},
    ) as run:
        mlflow.log_param("grid", " ".join(grid)[:500])
    return run.info.run_id


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([tool("dvc"), *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def queue(root: Path, grid: list[str], parent: str) -> None:
    """Queue one experiment per grid point, each tagged with the sweep's parent run."""
    args = ["exp", "run", "--queue", "-S", f"sweep={parent}"]
    for item in grid:
        args += ["-S", item]
    dvc(root, *args)


def wait(root: Path, jobs: int, timeout: float = 3600) -> str:
    """Start `jobs` workers and wait until nothing is queued or running; return the status."""
    dvc(root, "queue", "start", "-j", str(jobs))
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = dvc(root, "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    raise TimeoutError(f"the sweep's queue is still busy after {timeout:.0f} s:\n{status}")


def finished(status: str) -> tuple[list[str], list[str]]:
    """Names of the experiments that succeeded and failed, from `dvc queue status`."""
    ok = [line.split()[1] for line in status.splitlines() if " Success" in line]
    bad = [line.split()[1] for line in status.splitlines() if " Failed" in line]
    return ok, bad


def default_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
