#!/usr/bin/env python3
"""Soak test (not in CI): a distributed training with checkpoints, run for a given time through
launch/moerec-launch, with one injected kill -9 of a rank that the launcher restarts. Every few
seconds it samples each rank's resident memory (VmRSS) and open file descriptors from /proc, and
at the end it says whether memory stayed flat after warm-up and whether descriptors leaked.

  bench/soak.py [--build build] [--minutes 30] [--interval 5] [--kill_at 0.4] [--out DIR]
                [--workers 2] [--servers 1]

Writes DIR/samples.csv (elapsed_s, attempt, rank, pid, rss_kb, fds), DIR/summary.txt and prints
  rss_growth_pct=... fd_growth=... restarts=... steps=...
rss_growth_pct: per rank, the mean RSS of the last tenth of the run against the mean of the
first samples after warm-up (the first quarter of the attempt, at least 60 s), the largest over
ranks, for the attempt after the kill (the longer one) and the one before it. fd_growth: the
largest rise of a rank's fewest open descriptors between the same two windows (servers open and
close RocksDB files as they go; a leak raises the floor). The run passes when
rss_growth_pct < 5 and fd_growth <= 0 (exit 0), else exits 1.
The 30-minute run is the default; bench/results/reliability.md records the runs made.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIG = """
name: "soak"
data {{
  num_domains: 3 num_tasks: 2
  slots {{ name: "user" side: SIDE_USER }} slots {{ name: "item" side: SIDE_ITEM }}
  slots {{ name: "tags_multi" side: SIDE_ITEM pooling: POOLING_MEAN }}
  slots {{ name: "context" side: SIDE_CONTEXT }}
  num_dense: 2
  train: "{tmp}/data/train" validation: "{tmp}/data/validation" test: "{tmp}/data/test"
  synthetic {{ num_samples: 60000 vocab_size: 20000 num_users: 3000 seed: 7 }}
  reader {{ batch_size: 256 }}
}}
embedding {{ dim: 16 optimizer {{ type: ADAGRAD learning_rate: 0.05 }} }}
model {{
  domain_embedding_dim: 8
  mmoe {{ num_experts: 4 expert {{ dims: 64 dims: 32 }} tower {{ dims: 16 }} }}
}}
optimizer {{ type: ADAM learning_rate: 0.002 }}
train {{ epochs: 100000 eval_every_steps: 400 log_every_steps: 50 seed: 3 threads: 1
         early_stop_patience: 0 }}
cluster {{ health_timeout_s: 60 health_interval_s: 1 }}
ps {{ db_dir: "ps-db" cache_mb: 2 }}
checkpoint {{ every_steps: 200 incremental: true full_every: 4 keep_last: 2 }}
"""


def moerec_pids(tag):
    """{world rank: pid} of the ranks started with SOAK_TAG=tag."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if not cmd or not cmd[0].endswith(b"/moerec") or f"SOAK_TAG={tag}".encode() not in env:
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                found[int(e.split(b"=")[1])] = int(pid)
    return found


def sample(pid):
    """(rss_kb, open fds) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds
    except (OSError, StopIteration):
        return None


def growth(rows, warmup_s):
    """(rss growth %, fd growth) of one attempt's rows [(t, rank, rss, fds)], worst rank."""
    if not rows:
        return None, None
    t0, t1 = rows[0][0], rows[-1][0]
    warm = t0 + max(warmup_s, (t1 - t0) / 4)
    tail = t1 - (t1 - warm) / 10
    worst_rss, worst_fd = None, None
    for rank in sorted({r[1] for r in rows}):
        mine = [r for r in rows if r[1] == rank]
        base = [r for r in mine if warm <= r[0] < warm + max(30, (t1 - warm) / 10)]
        end = [r for r in mine if r[0] >= tail]
        if not base or not end:
            continue
        b = sum(r[2] for r in base) / len(base)
        e = sum(r[2] for r in end) / len(end)
        pct = 100.0 * (e - b) / b
        # Servers open and close RocksDB files all the time: a leak is a floor that rises.
        fd = min(r[3] for r in end) - min(r[3] for r in base)
        worst_rss = pct if worst_rss is None else max(worst_rss, pct)
        worst_fd = fd if worst_fd is None else max(worst_fd, fd)
    return worst_rss, worst_fd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=5, help="seconds between samples")
    ap.add_argument("--kill_at", type=float, default=0.4, help="fraction of the run")
    ap.add_argument("--warmup", type=float, default=60, help="seconds of warm-up per attempt")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="moerec-soak-")
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "job")
    os.makedirs(tmp, exist_ok=True)
    config = os.path.join(tmp, "soak.pbtxt")
    with open(config, "w") as f:
        f.write(CONFIG.format(tmp=tmp))
    run_dir = os.path.join(tmp, "run")
    tag = f"{os.getpid()}"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MOEREC_BIN=os.path.join(os.path.abspath(args.build), "launch", "moerec"),
               MOEREC_RESTART_DELAY="1", SOAK_TAG=tag)
    cmd = [os.path.join(ROOT, "launch", "moerec-launch"), f"--config={config}",
           f"--run_dir={run_dir}", f"--workers={args.workers}", f"--servers={args.servers}",
           "--max-restarts=1"]
    log = open(os.path.join(out, "launch.out"), "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    duration = args.minutes * 60
    start = time.time()
    kill_time = start + args.kill_at * duration
    killed = None
    attempt = 0
    pids_seen = {}
    rows = {0: [], 1: []}
    rng = random.Random(args.seed)
    with open(os.path.join(out, "samples.csv"), "w") as csv:
        csv.write("elapsed_s,attempt,rank,pid,rss_kb,fds\n")
        while time.time() - start < duration and proc.poll() is None:
            now = time.time() - start
            pids = moerec_pids(tag)
            if pids and killed is not None and set(pids.values()) & set(killed.values()) == set():
                attempt = 1
            for rank, pid in sorted(pids.items()):
                s = sample(pid)
                if s is None:
                    continue
                pids_seen[pid] = rank
                csv.write(f"{now:.1f},{attempt},{rank},{pid},{s[0]},{s[1]}\n")
                rows[attempt].append((now, rank, s[0], s[1]))
            csv.flush()
            if killed is None and time.time() >= kill_time and pids:
                victim = rng.choice(sorted(pids))
                os.kill(pids[victim], signal.SIGKILL)
                killed = pids
                print(f"soak: killed rank {victim} (pid {pids[victim]}) at {now:.0f} s", flush=True)
            time.sleep(args.interval)
    ended_by_itself = proc.poll() is not None
    if not ended_by_itself:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()
    lines = []
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(metrics):
        lines = [json.loads(l) for l in open(metrics)]
    steps = max([l["step"] for l in lines if l.get("event") == "train"] or [0])
    resumes = [l for l in lines if l.get("event") == "resume"]
    checkpoints = [l for l in lines if l.get("event") == "checkpoint"]
    before = growth(rows[0], args.warmup)
    after = growth(rows[1], args.warmup)
    restarted = "restart 1 of 1" in open(os.path.join(out, "launch.out")).read()
    fmt = lambda v: "na" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
    summary = (f"minutes={args.minutes:g} samples={len(rows[0]) + len(rows[1])} "
               f"restarts={1 if restarted else 0} resumes={len(resumes)} "
               f"checkpoints={len(checkpoints)} steps={steps} "
               f"rss_growth_pct={fmt(after[0])} fd_growth={fmt(after[1])} "
               f"rss_growth_pct_before_kill={fmt(before[0])} "
               f"fd_growth_before_kill={fmt(before[1])} ended_early={ended_by_itself}")
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(summary + "\n")
    print(summary)
    print(f"soak: curves in {out}/samples.csv")
    ok = (restarted and resumes and not ended_by_itself and after[0] is not None and
          after[0] < 5 and after[1] <= 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
