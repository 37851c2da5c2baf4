"""``--distribute none|mirrored|multiworker`` on TensorFlow's own engine (tf.distribute).

- mirrored: ``MirroredStrategy`` over the local GPUs, else the local CPU devices
  ($EDGETL_CPU_DEVICES=N splits the CPU into N logical devices: how the tests get two replicas);
- multiworker: ``MultiWorkerMirroredStrategy`` configured by the standard ``TF_CONFIG``
  (the same command on every machine, each with its own ``task``).

The usual scaling rules: ``--batch-size`` is per replica, the global batch is batch x replicas,
and the learning rates scale linearly with the replicas (Goyal et al. 2017). Only the chief (task
type ``chief``, else worker 0) writes the run directory. Collectives time out after
``--distribute-timeout`` seconds, so a worker that dies gives the others an error, not a hang.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from edgetl.config.stages import STRATEGIES
from edgetl.errors import EdgetlError

CPU_DEVICES_ENV = "EDGETL_CPU_DEVICES"


@dataclass
class Distribution:
    name: str
    strategy: Any
    replicas: int
    is_chief: bool
    task: Optional[dict] = None
    workers: int = 1

    def scope(self):
        """The strategy's scope (variables created in it are mirrored); a no-op without a strategy."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def guard(self, timeout_s: float):
        """Turn a lost peer (multiworker) into a one-line EdgetlError instead of a traceback."""
        if self.name != "multiworker":
            yield
            return
        try:
            yield
        except lost_worker_errors() as e:
            raise EdgetlError(f"multi-worker training stopped: a worker is gone or unreachable "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:160]}); restart every worker with the "
                              f"same command (collective timeout {timeout_s:g} s)") from e

    def save_elsewhere(self, model) -> None:
        """Non-chief workers: saving runs collectives, so every worker saves; theirs goes to a temp folder, deleted."""
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="edgetl-worker-") as d:
            model.save(Path(d) / "model.keras")

    def manifest(self, batch_size: int, lr: float, fine_tune_lr: float) -> dict:
        return {"strategy": self.name, "replicas": self.replicas, "workers": self.workers,
                "task": self.task, "per_replica_batch_size": batch_size,
                "global_batch_size": batch_size * self.replicas, "lr": lr, "fine_tune_lr": fine_tune_lr,
                "scaling": "global batch = batch x replicas; learning rates x replicas (linear rule)"}


def parse_tf_config(raw: Optional[str]) -> dict:
    """Validate the standard TF_CONFIG; a malformed one is a one-line EdgetlError naming the field."""
    if raw is None or not raw.strip():
        raise EdgetlError("--distribute multiworker needs TF_CONFIG, e.g. "
                          "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                          "\"task\": {\"type\": \"worker\", \"index\": 0}}' (see docs/distributed.md)")
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise EdgetlError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}); see docs/distributed.md") from e
    if not isinstance(cfg, dict):
        raise EdgetlError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    cluster = cfg.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise EdgetlError("TF_CONFIG field 'cluster' is missing or not an object of job name -> [\"host:port\", ...]")
    for job, addrs in cluster.items():
        if job not in ("chief", "worker", "evaluator", "ps"):
            raise EdgetlError(f"TF_CONFIG field 'cluster.{job}' is not a job type; use 'worker' (and optionally 'chief')")
        if job in ("ps", "evaluator"):
            raise EdgetlError(f"TF_CONFIG field 'cluster.{job}' is not supported by MultiWorkerMirroredStrategy; "
                              "list every machine under 'worker'")
        if not isinstance(addrs, list) or not addrs:
            raise EdgetlError(f"TF_CONFIG field 'cluster.{job}' must be a non-empty list of \"host:port\"")
        for i, a in enumerate(addrs):
            host, _, port = str(a).rpartition(":")
            if not isinstance(a, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise EdgetlError(f"TF_CONFIG field 'cluster.{job}[{i}]' is '{a}', not \"host:port\"")
    if "worker" not in cluster and "chief" not in cluster:
        raise EdgetlError("TF_CONFIG field 'cluster.worker' is missing: list every machine's \"host:port\"")
    if len(cluster.get("chief", [])) > 1:
        raise EdgetlError("TF_CONFIG field 'cluster.chief' must list exactly one \"host:port\"")
    task = cfg.get("task")
    if not isinstance(task, dict):
        raise EdgetlError("TF_CONFIG field 'task' is missing; give {\"type\": \"worker\", \"index\": N} for this machine")
    ttype, index = task.get("type"), task.get("index")
    if ttype not in cluster:
        raise EdgetlError(f"TF_CONFIG field 'task.type' is {ttype!r}, not one of the cluster's jobs {sorted(cluster)}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[ttype]):
        raise EdgetlError(f"TF_CONFIG field 'task.index' is {index!r}; it must be an integer in "
                          f"0..{len(cluster[ttype]) - 1} (this machine's place in cluster.{ttype})")
    return cfg


def is_chief(cfg: dict) -> bool:
    task, cluster = cfg["task"], cfg["cluster"]
    if "chief" in cluster:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def check_name(name: str) -> str:
    if name not in STRATEGIES:
        raise EdgetlError(f"--distribute must be one of {', '.join(STRATEGIES)}, got '{name}'")
    return name


def make_distribution(name: str, timeout_s: float = 300.0) -> Distribution:
    """Create the strategy: call before any other TensorFlow work (MultiWorker needs a fresh runtime)."""
    check_name(name)
    if name == "none":
        return Distribution("none", None, 1, True)
    if name == "multiworker":
        cfg = parse_tf_config(os.environ.get("TF_CONFIG"))  # before TF reads it
        wait_for_peers(cfg, timeout_s)  # before TensorFlow's own, endless and uninterruptible wait
    from edgetl import _tf

    tf = _tf.tf()
    if name == "mirrored":
        _split_cpu()
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices,
                                                  cross_device_ops=tf.distribute.ReductionToOneDevice())
        return Distribution("mirrored", strategy, int(strategy.num_replicas_in_sync), True)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=float(timeout_s))
    try:
        with keep_signal_handlers():  # TensorFlow's coordination service takes SIGTERM for itself otherwise
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (ValueError, RuntimeError) as e:
        raise EdgetlError(f"could not start the multi-worker cluster from TF_CONFIG ({str(e).splitlines()[0][:160]}); "
                          "check the addresses and that this is the first TensorFlow work in the process") from e
    workers = sum(len(v) for v in cfg["cluster"].values())
    return Distribution("multiworker", strategy, int(strategy.num_replicas_in_sync), is_chief(cfg), cfg["task"], workers)


def wait_for_peers(cfg: dict, timeout_s: float, poll_s: float = 0.2) -> None:
    """Return once every other task of TF_CONFIG accepts connections; after ``timeout_s`` a one-line EdgetlError.

    TensorFlow waits for its peers inside C++ holding the interpreter lock, with no timeout of its own and where
    neither Ctrl-C nor SIGTERM reaches Python: so the wait happens here first, in Python (interruptible). Meanwhile
    this task listens on its own port, so that peers doing the same wait see it; the port is freed for
    TensorFlow before it starts.
    """
    import socket
    import time

    task = cfg["task"]
    mine = cfg["cluster"][task["type"]][task["index"]]
    peers = [a for job, addrs in cfg["cluster"].items() for i, a in enumerate(addrs)
             if (job, i) != (task["type"], task["index"])]
    placeholder = socket.socket(socket.AF_INET6 if ":" in mine.rpartition(":")[0] else socket.AF_INET)
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            placeholder.bind(("", int(mine.rpartition(":")[2])))
            placeholder.listen(16)
        except OSError as e:
            raise EdgetlError(f"this task's address {mine} (TF_CONFIG task {task['type']}:{task['index']}) cannot be "
                              f"listened on ({e.strerror or e}); free the port or fix TF_CONFIG") from e
        deadline = time.monotonic() + float(timeout_s)
        waiting = list(peers)
        while waiting:
            host, _, port = waiting[0].rpartition(":")
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=min(1.0, float(timeout_s))).close()
                waiting.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise EdgetlError(f"multi-worker training: no answer from {', '.join(waiting)} within "
                                  f"--distribute-timeout {timeout_s:g} s; start the same command on every machine "
                                  "of TF_CONFIG (or raise --distribute-timeout)")
            time.sleep(poll_s)
    finally:
        placeholder.close()


@contextlib.contextmanager
def keep_signal_handlers():
    """Restore the SIGINT/SIGTERM handlers after the block (one line and exit 130/143, see cli.common)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def _split_cpu() -> None:
    n = os.environ.get(CPU_DEVICES_ENV)
    if not n:
        return
    from edgetl import _tf

    tf = _tf.tf()
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(n))
    except RuntimeError:
        pass  # the runtime is already initialised: keep its devices


def lost_worker_errors():
    """The TensorFlow errors a dead or unreachable peer surfaces as."""
    from edgetl import _tf

    e = _tf.tf().errors
    return (e.UnavailableError, e.DeadlineExceededError, e.CancelledError, e.AbortedError, e.InternalError)
