#!/usr/bin/env python3
"""Distributed training throughput on loopback (issue: distributed training and launching).

Runs the reference MMoE (the mmoe-ref model: 16 slots x 100k Zipf ids, dim 16, 8 experts
272 -> 256 -> 128, 2 tasks, towers 128 -> 64 -> 1, batch 1024 per worker, BSP) on synthetic
data through the moerec binary:
  - one process, in-process tables (the reference);
  - mpirun with W workers and P parameter servers for W in {1, 2, 4} and P in {1, 2}.
For each it prints global samples/s (after a warm-up window), the time split per step (data,
pull, compute, push, all-reduce + optimizer), the bytes on the wire per step per worker
(parameter-server traffic and the all-reduced dense-gradient buffer), and the ratio of
1 worker + 1 server to one process.

Usage: bench/distributed_bench.py [--build build] [--steps 60] [--out bench/results/distributed.md]
Each worker gets max(1, cores / W) compute threads; servers poll with sleeps when idle.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

CONFIG = """
name: "dist-bench"
data {{
  num_domains: 3 num_tasks: 2
  {slots}
  train: "{data}/train" validation: "{data}/validation" test: "{data}/test"
  synthetic {{ num_samples: 400000 vocab_size: 100000 zipf_exponent: 1.05
               validation_fraction: 0.01 test_fraction: 0.01 samples_per_shard: 25000 seed: 2 }}
  reader {{ batch_size: 1024 threads: 1 }}
}}
embedding {{ dim: 16 optimizer {{ type: ADAGRAD learning_rate: 0.05 epsilon: 1e-10 }} }}
model {{
  domain_embedding_dim: 16
  mmoe {{ num_experts: 8 expert {{ dims: 256 dims: 128 }} tower {{ dims: 64 }} }}
}}
optimizer {{ type: ADAM learning_rate: 0.001 }}
train {{ epochs: 1 eval_every_steps: 0 log_every_steps: {log_every} seed: 1 restore_best: false }}
ps {{ db_dir: "ps-db" cache_mb: 256 }}
"""


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def run(cmd, env):
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-3000:])
        raise SystemExit(f"FAILED: {' '.join(cmd)}")


def measure(moerec, config, run_dir, workers, servers, steps, cores):
    threads = max(1, cores // workers)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1", MOEREC_PROGRESS="0")
    cmd = [moerec, "train", f"--config={config}", f"--run_dir={run_dir}", f"--max_steps={steps}"]
    if servers > 0:
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np",
               str(workers + servers)] + cmd + [f"--workers={workers}", f"--servers={servers}"]
    run(cmd, env)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [l for l in lines if l["event"] == "train"][1:]  # the first window warms up
    keys = ("samples_per_sec", "ms_step", "ms_data", "ms_pull", "ms_compute", "ms_push",
            "ms_dense", "ps_bytes_per_step", "allreduce_bytes_per_step")
    return {k: sum(l[k] for l in train) / len(train) for k in keys}, threads


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    moerec = os.path.abspath(os.path.join(args.build, "launch", "moerec"))
    cores = os.cpu_count()
    tmp = tempfile.mkdtemp(prefix="moerec-dist-bench-")
    try:
        slots = " ".join(f'slots {{ name: "s{i}" }}' for i in range(16))
        config = os.path.join(tmp, "bench.pbtxt")
        with open(config, "w") as f:
            f.write(CONFIG.format(slots=slots, data=os.path.join(tmp, "data"),
                                  log_every=max(5, args.steps // 6)))
        subprocess.run([moerec, "gen", f"--config={config}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = []
        layouts = [(1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2)]
        for workers, servers in layouts:
            run_dir = os.path.join(tmp, f"w{workers}s{servers}")
            t0 = time.time()
            figures, threads = measure(moerec, config, run_dir, workers, servers, args.steps,
                                       cores)
            rows.append((workers, servers, threads, figures))
            name = "one process" if servers == 0 else f"{workers} workers + {servers} servers"
            print(f"{name}: {figures['samples_per_sec']:.0f} samples/s "
                  f"({time.time() - t0:.0f} s)", flush=True)
        single = rows[0][3]["samples_per_sec"]
        one_one = rows[1][3]["samples_per_sec"]
        lines = [
            "| layout | threads/worker | samples/s | ms/step | data | pull | compute | push | "
            "all-reduce+opt | PS bytes/step/worker | all-reduce bytes/step |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for workers, servers, threads, f in rows:
            name = "1 process" if servers == 0 else f"{workers}W + {servers}S"
            lines.append(
                f"| {name} | {threads} | {f['samples_per_sec']:.0f} | {f['ms_step']:.1f} | "
                f"{f['ms_data']:.1f} | {f['ms_pull']:.1f} | {f['ms_compute']:.1f} | "
                f"{f['ms_push']:.1f} | {f['ms_dense']:.1f} | {f['ps_bytes_per_step'] / 1e6:.2f} MB | "
                f"{f['allreduce_bytes_per_step'] / 1e6:.2f} MB |")
        table = "\n".join(lines)
        print(table)
        print(f"one_process_samples_per_sec={single:.0f}")
        print(f"one_worker_one_server_samples_per_sec={one_one:.0f}")
        print(f"one_worker_one_server_ratio={one_one / single:.3f}")
        if args.out:
            with open(args.out, "w") as f:
                f.write("# Distributed training throughput (loopback)\n\n")
                f.write(f"Machine: {platform.node()} ({cpu_model()}), {cores} cores, "
                        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
                        f"{time.strftime('%Y-%m-%d')}.\n")
                f.write(f"Command: `bench/distributed_bench.py --steps {args.steps}`\n\n")
                f.write("Workload: the mmoe-ref model (16 slots x 100k Zipf(1.05) ids, dim 16, "
                        "8 experts 272-256-128, 2 tasks, towers 128-64-1), batch 1024 per worker, "
                        "BSP, RocksDB-backed servers (256 MiB cache). Times are per step, "
                        "averaged after a warm-up window; pull = waiting for rows (the pull of "
                        "step t+1 flies during step t's all-reduce and optimizer).\n\n")
                f.write(table + "\n\n")
                f.write(f"1 worker + 1 server / one process = {one_one / single:.3f}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
