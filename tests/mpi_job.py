"""Shared pieces of the end-to-end tests that run the moerec binary under real mpirun:
the environment for oversubscribed loopback ranks, the train command, running it with its
output kept for failures, reading metrics.jsonl, and the case dispatch."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mpi_yield_when_idle="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def moerec(build):
    return os.path.join(build, "launch", "moerec")


def train_command(build, config, run_dir, workers=1, servers=0):
    """One process when workers == 1 and servers == 0, else mpirun with W + P ranks."""
    cmd = [moerec(build), "train", f"--config={config}", f"--run_dir={run_dir}"]
    if workers > 1 or servers > 0:
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(workers + servers)] + cmd
        cmd += [f"--workers={workers}", f"--servers={servers}"]
    return cmd


def run(cmd, timeout=600):
    proc = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(cmd)}")
    return proc.stdout


def metrics(run_dir):
    """(all lines, {step: loss} of the train events, the final event)."""
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    losses = {l["step"]: l["loss"] for l in lines if l["event"] == "train"}
    final = [l for l in lines if l["event"] == "final"][-1]
    return lines, losses, final


def main(cases, prefix):
    """Runs cases[sys.argv[2]](tmp) in a fresh temporary folder; sys.argv[1] is the build dir."""
    case = sys.argv[2]
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        cases[case](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED", case)
