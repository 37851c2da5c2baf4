"""Issue 13: --distribute none|mirrored|multiworker on tf.distribute; TF_CONFIG checks; a lost worker."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import PROJECT
from edgetl.cli import main
from edgetl.errors import EdgetlError
from edgetl.training.distribute import is_chief, parse_tf_config

# Only a guard against a hang: a run takes about a minute on an idle 2-core machine, many on a loaded one.
HANG_S = 1800
GOOD = {"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, "task": {"type": "worker", "index": 1}}


# ---- fast: TF_CONFIG ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, field", [
    ("{not json", "not valid JSON"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "'cluster'"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "'cluster.worker'"),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}), "'cluster.worker[0]'"),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}), "'cluster.ps'"),
    (json.dumps({"cluster": GOOD["cluster"]}), "'task'"),
    (json.dumps({"cluster": GOOD["cluster"], "task": {"type": "chief", "index": 0}}), "'task.type'"),
    (json.dumps({"cluster": GOOD["cluster"], "task": {"type": "worker", "index": 2}}), "'task.index'"),
    (json.dumps({"cluster": GOOD["cluster"], "task": {"type": "worker", "index": "0"}}), "'task.index'"),
])
def test_malformed_tf_config_names_the_field(raw, field):
    with pytest.raises(EdgetlError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_tf_config(raw)


def test_chief_is_the_chief_task_else_worker_0():
    assert not is_chief(parse_tf_config(json.dumps(GOOD)))
    assert is_chief(parse_tf_config(json.dumps({**GOOD, "task": {"type": "worker", "index": 0}})))
    with_chief = {"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}
    assert not is_chief(parse_tf_config(json.dumps(with_chief)))


def test_cli_malformed_tf_config_exits_2_naming_the_field_and_writes_nothing(tmp_path, flowers):
    bad = json.dumps({"cluster": GOOD["cluster"], "task": {"type": "worker", "index": 7}})
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", str(flowers), "--distribute", "multiworker", "--out", str(out)],
                           env={"TF_CONFIG": bad})
    assert r.exit_code == 2 and "TF_CONFIG field 'task.index'" in r.output and "Traceback" not in r.output
    assert not out.exists()
    r = CliRunner().invoke(main, ["train", "--data", str(flowers), "--distribute", "multiworker", "--out", str(out)],
                           env={"TF_CONFIG": ""})
    assert r.exit_code == 2 and "needs TF_CONFIG" in r.output


# ---- slow: real strategies in child processes ----------------------------------------------------------

def _train_cmd(flowers, weights_dir, out, *extra):
    return [sys.executable, "-m", "edgetl", "train", "--data", str(flowers), "--weights-dir", str(weights_dir),
            "--backbone", "mobilenet_v2", "--alpha", "0.35", "--input-size", "64", "--epochs", "4",
            "--fine-tune-epochs", "1", "--batch-size", "16", "--seed", "3", "--out", str(out), "--json", *extra]


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "EDGETL_CPU_DEVICES")}
    env.update(kw)
    return env


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _finish(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no exit within {timeout} s (a hang):\n{err.decode()[-2000:]}")
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_scales_batch_and_lr(tmp_path, flowers, weights_dir):
    out = tmp_path / "mirrored"
    cmd = _train_cmd(flowers, weights_dir, out, "--distribute", "mirrored", "--cache-dir", "none", "--limit-images", "10",
                     "--epochs", "2")
    proc = subprocess.Popen(cmd,
                            cwd=PROJECT, env=_env(EDGETL_CPU_DEVICES="2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    code, stdout, err = _finish(proc, HANG_S)
    assert code == 0, err[-2000:]
    d = json.loads((out / "manifest.json").read_text())["distribute"]
    assert (d["strategy"], d["replicas"], d["global_batch_size"]) == ("mirrored", 2, 32)
    from edgetl.stages.train import TrainConfig

    assert d["lr"] == pytest.approx(2 * TrainConfig().lr) and d["per_replica_batch_size"] == 16
    assert json.loads(stdout)["distribute"] == {"strategy": "mirrored", "replicas": 2}


@pytest.mark.slow
def test_multiworker_two_local_processes_chief_alone_writes_and_matches_single_process(tmp_path, flowers, weights_dir):
    ports = _free_ports(2)
    outs = [tmp_path / "chief", tmp_path / "worker1"]
    procs = [subprocess.Popen(_train_cmd(flowers, weights_dir, outs[i], "--distribute", "multiworker",
                                         "--distribute-timeout", "120", "--cache-dir", "none"),
                              cwd=PROJECT, env=_env(TF_CONFIG=_tf_config(ports, i)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(2)]
    single = subprocess.Popen(_train_cmd(flowers, weights_dir, tmp_path / "single", "--cache-dir", "none"),
                              cwd=PROJECT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = [_finish(p, HANG_S) for p in procs + [single]]
    for code, _, err in results:
        assert code == 0, err[-2000:]
    assert (outs[0] / "manifest.json").is_file() and not outs[1].exists()  # the other worker wrote nothing
    d = json.loads((outs[0] / "manifest.json").read_text())["distribute"]
    assert (d["strategy"], d["replicas"], d["workers"], d["task"]["index"]) == ("multiworker", 2, 2, 0)
    acc = [json.loads(stdout)["test"]["accuracy"] for _, stdout, _ in results]
    # flowers_small: 30 test images; 0.2 is about two standard deviations of the difference of two accuracies.
    assert acc[0] == acc[1] and abs(acc[0] - acc[2]) <= 0.2, acc


@pytest.mark.slow
def test_a_worker_that_dies_mid_run_stops_the_other_with_an_error_not_a_hang(tmp_path, flowers, weights_dir):
    ports = _free_ports(2)
    cache1 = tmp_path / "cache1"
    procs = []
    for i in range(2):
        extra = ["--distribute", "multiworker", "--distribute-timeout", "30", "--limit-images", "10",
                 "--cache-dir", str(cache1 if i else tmp_path / "cache0")]
        procs.append(subprocess.Popen(_train_cmd(flowers, weights_dir, tmp_path / f"out{i}", *extra), cwd=PROJECT,
                                      env=_env(TF_CONFIG=_tf_config(ports, i)), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    deadline = time.time() + HANG_S
    while not list(cache1.glob("features/*/meta.json")):  # worker 1 has its features: training in step is next
        assert procs[1].poll() is None and time.time() < deadline, "worker 1 never reached phase 1's head"
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    code, _, err = _finish(procs[0], HANG_S)
    assert code == 2, err[-2000:]
    assert "multi-worker training stopped" in err and "Traceback" not in err
    assert not (tmp_path / "out0" / "manifest.json").exists()
