"""Shared pieces of the end-to-end tests that run the moerec binary under real mpirun:
the environment for oversubscribed loopback ranks, the train command, running it with its
output kept for failures, reading metrics.jsonl, and the case dispatch."""
import json
import os
import shutil
import subprocess
import sys
import signal
import tempfile
import time

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mpi_yield_when_idle="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def moerec(build):
    return os.path.join(build, "launch", "moerec")


def train_command(build, config, run_dir, workers=1, servers=0, teachers=0):
    """One process when workers == 1 and servers == teachers == 0, else mpirun with W + P + T
    ranks."""
    cmd = [moerec(build), "train", f"--config={config}", f"--run_dir={run_dir}"]
    if workers > 1 or servers > 0 or teachers > 0:
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np",
               str(workers + servers + teachers)] + cmd
        cmd += [f"--workers={workers}", f"--servers={servers}"]
        if teachers > 0:
            cmd.append(f"--teachers={teachers}")
    return cmd


def run(cmd, timeout=600):
    proc = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(cmd)}")
    return proc.stdout


def _descendants(pid):
    """pid and every process below it, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def kill_job(proc, timeout=60):
    """SIGKILLs a job started with start_new_session=True: its process group and every process
    below it (mpirun's ranks may sit in groups of their own), then waits until all are gone, so
    that the next job on its run folder does not find the folder's lock still held."""
    tree = _descendants(proc.pid)
    for sig_target in tree:
        try:
            os.kill(sig_target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.time() + timeout
    for p in tree[1:]:
        while os.path.exists(f"/proc/{p}") and time.time() < deadline:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break  # a zombie holds no files; its reaper is gone with mpirun
            except OSError:
                break
            time.sleep(0.02)
    assert time.time() < deadline, f"processes of the killed job {proc.pid} outlived it"


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
