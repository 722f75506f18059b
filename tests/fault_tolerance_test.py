#!/usr/bin/env python3
"""Failures of real MPI jobs, through the moerec binary.

  resume_after_kill  A BSP job (2 workers, 2 servers) killed with SIGKILL after a checkpoint
                     and started again (with 3 servers: rows are re-hashed on restore) ends
                     with exactly the losses and test AUC of the uninterrupted job.
  hung_rank          A server stopped with SIGSTOP makes the job end within the health timeout
                     with a message naming that server.

Usage: fault_tolerance_test.py BUILD_DIR CASE
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_job import ENV, main, metrics, run, train_command  # noqa: E402

BUILD = sys.argv[1]

CONFIG = """
name: "fault-test"
data {{
  num_domains: 2 num_tasks: 2
  slots {{ name: "a" }} slots {{ name: "b" }} slots {{ name: "c_multi" pooling: POOLING_MEAN }}
  num_dense: 1
  train: "{tmp}/data/train" validation: "{tmp}/data/validation" test: "{tmp}/data/test"
  synthetic {{ num_samples: 16000 vocab_size: 300 samples_per_shard: 5000 seed: 3 }}
  reader {{ batch_size: 64 }}
}}
embedding {{ dim: 8 optimizer {{ type: ADAM learning_rate: 0.01 }} }}
model {{
  domain_embedding_dim: 4
  mmoe {{ num_experts: 3 expert {{ dims: 32 dims: 16 }} tower {{ dims: 8 }} }}
}}
optimizer {{ type: ADAM learning_rate: 0.003 }}
train {{ epochs: {epochs} eval_every_steps: 40 log_every_steps: 10 seed: 4 threads: 1
         early_stop_patience: 0 restore_best: true }}
cluster {{ health_timeout_s: {health_timeout} health_interval_s: 0.5 }}
ps {{ db_dir: "ps-db" cache_mb: 1 }}
checkpoint {{ every_steps: 20 incremental: true full_every: 3 keep_last: 2 }}
"""


def write_config(tmp, epochs=2, health_timeout=60):
    path = os.path.join(tmp, "job.pbtxt")
    with open(path, "w") as f:
        f.write(CONFIG.format(tmp=tmp, epochs=epochs, health_timeout=health_timeout))
    return path


def whole_checkpoints(run_dir):
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, "MANIFEST")))


def resume_after_kill(tmp):
    config = write_config(tmp)
    run(train_command(BUILD, config, os.path.join(tmp, "whole"), 2, 2))
    _, ref_losses, ref_final = metrics(os.path.join(tmp, "whole"))

    cut = os.path.join(tmp, "cut")
    proc = subprocess.Popen(train_command(BUILD, config, cut, 2, 2), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = whole_checkpoints(cut)
        if done and int(done[-1].split("-")[1]) >= 60:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = whole_checkpoints(cut)[-1]
    print("killed after", killed_at)

    run(train_command(BUILD, config, cut, 2, 3))  # resumes, onto 3 servers
    lines, losses, final = metrics(cut)
    resumes = [l for l in lines if l["event"] == "resume"]
    assert resumes and resumes[-1]["checkpoint"] >= killed_at, resumes
    resumed_step = resumes[-1]["step"]
    compared = 0
    for step, loss in losses.items():
        if step > resumed_step:
            assert loss == ref_losses[step], (step, loss, ref_losses[step])
            compared += 1
    assert compared >= 3, compared
    for key in ("mean_test_auc", "weighted_test_auc", "best_step", "step"):
        assert final[key] == ref_final[key], (key, final[key], ref_final[key])
    print(f"resumed at step {resumed_step} on 3 servers: {compared} later losses and the final "
          f"test AUC {final['mean_test_auc']:.6f} equal the uninterrupted run's")


def server_pid(rank, parent):
    """The pid of world rank `rank` among mpirun's descendants."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"moerec" in cmd and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and \
                f"MOEREC_TEST_TAG={parent}".encode() in env:
            return int(pid)
    return None


def hung_rank(tmp):
    config = write_config(tmp, epochs=50, health_timeout=4)
    run_dir = os.path.join(tmp, "hung")
    env = dict(ENV, MOEREC_TEST_TAG=str(os.getpid()))
    start = time.time()
    proc = subprocess.Popen(train_command(BUILD, config, run_dir, 1, 2), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # Wait for training to run, then stop server 1 (world rank 2).
    pid = None
    while time.time() - start < 120:
        if os.path.exists(os.path.join(run_dir, "metrics.jsonl")) and \
                '"train"' in open(os.path.join(run_dir, "metrics.jsonl")).read():
            pid = server_pid(2, os.getpid())
            if pid:
                break
        time.sleep(0.1)
    assert pid, "server rank 2 not found"
    os.kill(pid, signal.SIGSTOP)
    stopped = time.time()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    took = time.time() - stopped
    assert proc.returncode != 0, "the job did not fail"
    assert "server 1 (world rank 2) stopped answering" in out, out[-3000:]
    assert took < 30, took
    print(f"the job ended {took:.1f} s after server 1 stopped, naming it")


if __name__ == "__main__":
    main({"resume_after_kill": resume_after_kill, "hung_rank": hung_rank}, "moerec-fault-")
