#!/usr/bin/env python3
"""Failures of real MPI jobs, through the moerec binary.

  resume_in_phases   The same through MoE-MLoRA's training phases, killed inside one.
  resume_after_kill  A BSP job (2 workers, 2 servers) killed with SIGKILL after a checkpoint
                     and started again (with 3 servers: rows are re-hashed on restore) ends
                     with exactly the losses and test AUC of the uninterrupted job.
  resume_expert_parallel  The same with SMES's experts spread over the 2 workers (expert-local
                     parameters and optimizer state saved by their owners).
  expert_replacement A checkpoint of 2 expert-parallel workers, at an epoch's end, loads onto 4:
                     the experts are re-placed and the model evaluates to the same test AUC.
  resume_at_phase_end  M3oE (AutoML steps once per epoch) resumed from the checkpoint its last
                     epoch's validation wrote: the epoch's end work (architecture step,
                     validation) is not done again, and the test AUC is the uninterrupted run's.
  hung_rank          A server stopped with SIGSTOP makes the job end within the health timeout
                     with a message naming that server, and only that server (also when it
                     runs again while the job tears down).
  run_dir_lock       A second job on a running job's --run_dir is refused at once, naming the
                     holder; the first job's files are untouched; a dead holder's lock is stale.
  damaged_checkpoints  A damaged file costs one checkpoint (the job resumes from the one
                     before); with none whole left the job refuses to start, listing what it
                     found; --allow_fresh_start sets them aside and starts over.
  resume_false       checkpoint.resume: false moves an earlier run's checkpoints aside (or, with
                     --refuse_earlier_checkpoints, refuses to start).
  huge_model         A model that cannot fit in memory is refused at load, with its sizes.
  damaged_split      A damaged shard of the test split stops the job before it trains.
  disk_full          A run folder on a small tmpfs: the rank that hits the full disk says so
                     (file, "No space left on device", bytes), the others name it, the last
                     whole checkpoint still loads, and the launcher does not restart.
  kill_server        kill -9 of one parameter server at a random step (seeds FAULT_SEEDS,
                     default 1 2 3 4) of a BSP job (2 workers, 2 servers, checkpoints every 10
                     steps) run by launch/moerec-launch: the launcher restarts it, it resumes
                     from the last whole checkpoint, and its final checkpoint equals the
                     uninterrupted run's bit for bit (dense.bin, every row, expert files).
  kill_worker        The same, killing a worker (the chief for even seeds), with SMES's experts
                     spread over the workers (expert-local parameters compared too).
  node_loss          The same, killing every rank at once.
  kill_in_checkpoint The chief dies while it writes a checkpoint (after the servers' parts,
                     and after dense.bin: before the MANIFEST): the partial folder is ignored,
                     the previous checkpoint is the one loaded, the final model is the same.
  kill_teacher       The same, killing the teacher rank of a DSMOE student distilled from an
                     offline teacher on a teacher rank (2 workers, 2 servers, 1 teacher): the
                     student's final checkpoint (its towers, the frozen teacher's parameters,
                     every row) equals the uninterrupted run's bit for bit.
  checkpoint_skip    checkpoint.on_failure: SKIP with the checkpoint folder on a small tmpfs
                     filled up mid-run: the failed checkpoints are skipped (a warning, a
                     checkpoint_skipped event, no partial folder left), the job trains on and
                     checkpoints again once there is room; with the default (STOP) the job ends
                     naming the file, and either way the last whole checkpoint loads.
  rocksdb_eio        The servers' RocksDB writes fail with EIO mid-run (an LD_PRELOAD shim,
                     tests/fault_eio.c): the job stops with an error naming the server and the
                     file, the launcher restarts it once the disk is back, it resumes from the
                     last whole checkpoint and finishes.
  unreadable_files   Truncated checkpoint files (dense.bin, a row file) cost that checkpoint
                     only, naming the file; a truncated or unreadable (mode 000, the job run as
                     nobody) training shard or config stops the job before it trains, naming
                     the file.

Usage: fault_tolerance_test.py BUILD_DIR CASE
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_job import ENV, kill_job, main, metrics, run, train_command  # noqa: E402

BUILD = sys.argv[1]

CONFIG = """
name: "fault \\"test\\"\\n\\xff\\t"  # quotes, a newline, a byte that is not UTF-8
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
checkpoint {{ every_steps: 20 incremental: {incremental} full_every: 3 keep_last: 2
              resume: {resume} }}
"""


def write_config(tmp, epochs=2, health_timeout=60, incremental="true", resume="true",
                 name="job.pbtxt", model=None):
    path = os.path.join(tmp, name)
    text = CONFIG.format(tmp=tmp, epochs=epochs, health_timeout=health_timeout,
                         incremental=incremental, resume=resume)
    if model is not None:
        start = text.index("model {")
        end = text.index("\noptimizer {")
        text = text[:start] + model + "\n" + text[end:]
    with open(path, "w") as f:
        f.write(text)
    return path


def attempt(cmd, timeout=600, env=ENV):
    """Runs cmd; returns (exit status, output)."""
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout


def events(run_dir, kind):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if f'"event":"{kind}"' in l.replace(" ", "")]


def flip_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x5A]))


def whole_checkpoints(run_dir):
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, "MANIFEST")))


def resume_after_kill(tmp, model=None, kill_after=60):
    config = write_config(tmp, model=model)
    run(train_command(BUILD, config, os.path.join(tmp, "whole"), 2, 2))
    _, ref_losses, ref_final = metrics(os.path.join(tmp, "whole"))

    cut = os.path.join(tmp, "cut")
    proc = subprocess.Popen(train_command(BUILD, config, cut, 2, 2), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = whole_checkpoints(cut)
        if done and int(done[-1].split("-")[1]) >= kill_after:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed"
    kill_job(proc)
    killed_at = whole_checkpoints(cut)[-1]
    print("killed after", killed_at)

    run(train_command(BUILD, config, cut, 2, 3))  # resumes, onto 3 servers
    lines, losses, final = metrics(cut)
    resumes = [l for l in lines if l["event"] == "resume"]
    assert resumes and resumes[-1]["checkpoint"] >= killed_at, resumes
    resumed_step = resumes[-1]["step"]
    compared = 0
    for step, loss in losses.items():
        # A logged loss is the mean over the 10 steps before it: compare the windows that start
        # after the resume (a resume at a phase's end is not on the logging grid).
        if step - 10 >= resumed_step:
            assert loss == ref_losses[step], (step, loss, ref_losses[step])
            compared += 1
    assert compared >= 3, compared
    for key in ("mean_test_auc", "weighted_test_auc", "best_step", "step"):
        assert final[key] == ref_final[key], (key, final[key], ref_final[key])
    print(f"resumed at step {resumed_step} on 3 servers: {compared} later losses and the final "
          f"test AUC {final['mean_test_auc']:.6f} equal the uninterrupted run's")
    return lines


def resume_in_phases(tmp):
    """MoE-MLoRA's phases (backbone, expert.0, expert.1, gate; an epoch each, about 100 steps)
    killed inside expert.0's phase: the resumed run goes on in that phase, then the next ones,
    exactly as the uninterrupted run."""
    model = ("model { domain_embedding_dim: 4 shared_bottom { bottom { dims: 32 dims: 16 } "
             "tower { dims: 8 } } mlora { reduce: 4 backbone { epochs: 1 early_stop_patience: 0 } "
             "expert { epochs: 1 early_stop_patience: 0 } gate { epochs: 1 early_stop_patience: 0 } } }")
    lines = resume_after_kill(tmp, model=model, kill_after=140)
    resumed = [l for l in lines if l["event"] == "resume"][-1]["step"]
    after = [l["name"] for l in lines if l["event"] == "phase" and l["step"] >= resumed]
    assert after[-2:] == ["expert.1", "gate"], after
    whole = [l["name"] for l in events(os.path.join(tmp, "whole"), "phase")]
    assert whole == ["backbone", "expert.0", "expert.1", "gate"], whole
    print("phases after the resume:", after)


EP_MODEL = ("model { domain_embedding_dim: 4 smes { num_experts: 5 shared_k: 2 private_k: 1 "
            "balance_weight: 0.05 encoder { dims: 16 } expert { dims: 16 dims: 8 } "
            "tower { dims: 8 } placement { kind: ROUND_ROBIN } } }")


def resume_expert_parallel(tmp):
    lines = resume_after_kill(tmp, model=EP_MODEL)
    assert any(l["event"] == "resume" for l in lines)
    ckpts = glob.glob(os.path.join(tmp, "cut", "checkpoints", "*", "experts-*.bin"))
    assert {os.path.basename(c) for c in ckpts} == {"experts-0.bin", "experts-1.bin"}, ckpts


def expert_replacement(tmp):
    config = write_config(tmp, epochs=2, model=EP_MODEL)
    text = open(config).read().replace("eval_every_steps: 40", "eval_every_steps: 0")
    open(config, "w").write(text.replace("every_steps: 20", "every_steps: 100000"))
    # Epoch 0's length: a one-epoch run of the same data.
    probe_config = write_config(tmp, epochs=1, model=EP_MODEL, name="probe.pbtxt")
    probe = os.path.join(tmp, "probe")
    run(train_command(BUILD, probe_config, probe, 2, 1))
    steps_per_epoch = [l for l in events(probe, "final")][-1]["step"]
    # Two workers stop right after epoch 0, whose end wrote the (best) checkpoint.
    job = os.path.join(tmp, "job")
    stop = ["--max_steps=%d" % steps_per_epoch]
    run(train_command(BUILD, config, job, 2, 1) + stop)
    two = [l for l in events(job, "final")][-1]
    # Four workers resume from it (experts re-placed: 5 over 4) and train no further.
    run(train_command(BUILD, config, job, 4, 1) + stop)
    resumes = events(job, "resume")
    assert resumes, "the 4-worker job did not resume"
    four = [l for l in events(job, "final")][-1]
    for key in ("mean_test_auc", "weighted_test_auc"):
        assert abs(four[key] - two[key]) <= 1e-6, (key, four[key], two[key])
    print(f"2 workers -> 4 workers at step {resumes[-1]['step']}: mean test AUC "
          f"{four['mean_test_auc']:.6f} (2 workers {two['mean_test_auc']:.6f})")


def resume_at_phase_end(tmp):
    model = ("model { domain_embedding_dim: 4 m3oe { star_dim: 16 representation { dims: 16 } "
             "num_shared_experts: 2 expert { dims: 8 } tower { dims: 4 } } }")
    config = write_config(tmp, epochs=1, model=model)
    text = open(config).read().replace("eval_every_steps: 40", "eval_every_steps: 0")
    open(config, "w").write(text.replace("every_steps: 20", "every_steps: 100000"))
    job = os.path.join(tmp, "job")
    run(train_command(BUILD, config, job, 2, 1))
    first = [l for l in events(job, "final")][-1]
    evals = len(events(job, "eval"))
    # The only checkpoint is the one the epoch's validation wrote; start the job again.
    run(train_command(BUILD, config, job, 2, 1))
    resumes = events(job, "resume")
    assert resumes, "the second run did not resume"
    assert len(events(job, "eval")) == evals, "the epoch's validation ran again"
    again = [l for l in events(job, "final")][-1]
    for key in ("mean_test_auc", "weighted_test_auc", "step"):
        assert again[key] == first[key], (key, again[key], first[key])
    print(f"resumed at step {resumes[-1]['step']}: no second validation, the same test AUC "
          f"{again['mean_test_auc']:.6f}")


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
    lines = []
    named = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "stopped answering" in line:
                named.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
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
        assert named.wait(60), "nobody named the stopped server"
        took = time.time() - stopped
        # The stopped server comes back while the job tears down: it must not blame the chief
        # for the silence it slept through.
        os.kill(pid, signal.SIGCONT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            kill_job(proc)
    out = "".join(lines)
    assert proc.returncode != 0, "the job did not fail"
    blamed = [l.strip() for l in lines if "stopped answering" in l and "moerec:" not in l]
    assert len(blamed) == 1 and "server 1 (world rank 2) stopped answering" in blamed[0], \
        "\n".join(blamed) + "\n" + out[-3000:]
    assert took < 30, took
    print(f"the job ended {took:.1f} s after server 1 stopped, naming it and no other rank")


def run_dir_lock(tmp):
    config = write_config(tmp, epochs=30)
    run_dir = os.path.join(tmp, "locked")
    first = subprocess.Popen(train_command(BUILD, config, run_dir), env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not events(run_dir, "train"):
            assert first.poll() is None, first.stdout.read()[-3000:]
            time.sleep(0.05)
        before = open(os.path.join(run_dir, "metrics.jsonl")).read()
        for cmd in (train_command(BUILD, config, run_dir),
                    train_command(BUILD, config, run_dir, 1, 1)):
            started = time.time()
            rc, out = attempt(cmd, timeout=120)
            took = time.time() - started
            assert rc == 78, (rc, out[-3000:])
            assert f"is in use by host {os.uname().nodename}, pid {first.pid}, since " in out, \
                out[-3000:]
            assert took < 20, took
        after = open(os.path.join(run_dir, "metrics.jsonl")).read()
        assert after.startswith(before) and after.count('"event":"start"') == 1, \
            "the refused jobs wrote into the run folder"
    finally:
        kill_job(first)
    # The killed holder's lock is stale: the next job takes the folder and resumes.
    rc, out = attempt(train_command(BUILD, write_config(tmp, epochs=1, name="short.pbtxt"),
                                    run_dir), timeout=300)
    assert rc == 0, out[-3000:]
    print("a second job was refused naming the first (single process and under mpirun); "
          "after the first was killed its lock was stale")


def damaged_checkpoints(tmp):
    # RocksDB-backed servers, full checkpoints only: each checkpoint's table files are its own.
    config = write_config(tmp, epochs=1, incremental="false")
    run_dir = os.path.join(tmp, "damaged")
    cmd = train_command(BUILD, config, run_dir, 1, 1)
    run(cmd + ["--max_steps=60"])
    kept = whole_checkpoints(run_dir)
    assert len(kept) == 2, kept
    root = os.path.join(run_dir, "checkpoints")
    ssts = sorted(glob.glob(os.path.join(root, kept[-1], "ps", "shard-*", "db", "*.sst")))
    assert ssts, "no table file in the newest checkpoint"
    flip_byte(ssts[0])
    rc, out = attempt(cmd + ["--max_steps=80"])
    assert rc == 0, out[-3000:]
    resumed = events(run_dir, "resume")[-1]
    assert resumed["checkpoint"] == kept[0], (resumed, kept)
    print(f"a damaged table file in {kept[-1]} cost that checkpoint only: resumed from {kept[0]}")

    # Damage every whole checkpoint: the job refuses, listing each, and changes nothing.
    for name in whole_checkpoints(run_dir):
        flip_byte(os.path.join(root, name, "dense.bin"))
    listing = sorted(os.listdir(root))
    rc, out = attempt(cmd + ["--max_steps=100"])
    assert rc == 78, (rc, out[-3000:])
    for name in whole_checkpoints(run_dir):
        assert f"{name}: Corruption" in out, (name, out[-3000:])
    assert "--allow_fresh_start" in out, out[-3000:]
    assert sorted(os.listdir(root)) == listing, "a refused start changed the checkpoints"
    rc, out = attempt(cmd + ["--max_steps=30", "--allow_fresh_start"])
    assert rc == 0, out[-3000:]
    fresh = events(run_dir, "fresh_start")[-1]
    assert "set_aside" in fresh and os.path.isdir(fresh["set_aside"]), fresh
    assert sorted(os.listdir(fresh["set_aside"])) == listing, (fresh, listing)
    print("with no whole checkpoint the job refused to start, listing them; "
          "--allow_fresh_start set them aside:", fresh)


def resume_false(tmp):
    run_dir = os.path.join(tmp, "again")
    run(train_command(BUILD, write_config(tmp, epochs=1), run_dir) + ["--max_steps=40"])
    earlier = whole_checkpoints(run_dir)
    assert earlier, "the first run wrote no checkpoint"
    no_resume = write_config(tmp, epochs=1, resume="false", name="fresh.pbtxt")
    rc, out = attempt(train_command(BUILD, no_resume, run_dir) +
                      ["--max_steps=30", "--refuse_earlier_checkpoints"])
    assert rc == 78 and "checkpoints of an earlier run" in out, (rc, out[-3000:])
    run(train_command(BUILD, no_resume, run_dir) + ["--max_steps=30"])
    fresh = events(run_dir, "fresh_start")[-1]
    assert sorted(os.listdir(fresh["set_aside"])) == earlier, fresh
    assert not events(run_dir, "resume"), "the second run resumed the first run's state"
    now = whole_checkpoints(run_dir)
    assert now and all(int(n.split("-")[1]) <= 30 for n in now), now
    print("resume: false moved the earlier checkpoints to", fresh["set_aside"])


def huge_model(tmp):
    config = write_config(tmp, model="model { mmoe { num_experts: 8 expert { dims: 65536 "
                                     "dims: 65536 } tower { } } }", name="huge.pbtxt")
    started = time.time()
    rc, out = attempt(train_command(BUILD, config, os.path.join(tmp, "huge")), timeout=120)
    assert rc == 78, (rc, out[-3000:])
    assert "ResourceExhausted" in out and "GiB" in out and "available" in out, out[-3000:]
    assert "terminate called" not in out and "Check failed" not in out, out[-3000:]
    assert time.time() - started < 30
    print("refused at load:", [l for l in out.splitlines() if "ResourceExhausted" in l][0][:240])
    # Counts out of range are refused too, with the range, not taken for "unset".
    small = write_config(tmp, name="small.pbtxt")
    for flag, allowed in (("--workers=0", "must be >= 1"), ("--servers=-1", "must be >= 0"),
                          ("--max_steps=-1", "must be >= 0")):
        rc, out = attempt(train_command(BUILD, small, os.path.join(tmp, "flags")) + [flag])
        assert rc == 78 and f"{flag}: {allowed}" in out, (flag, rc, out[-2000:])


def damaged_split(tmp):
    config = write_config(tmp, epochs=1)
    run(train_command(BUILD, config, os.path.join(tmp, "first")) + ["--max_steps=1"])  # the data
    shard = sorted(glob.glob(os.path.join(tmp, "data", "test", "*.mrs")))[0]
    with open(shard, "r+b") as f:  # damage the footer, the last bytes of the file
        f.seek(-20, os.SEEK_END)
        f.write(b"\xde\xad\xbe\xef")
    for run_dir, workers, servers in ((os.path.join(tmp, "one"), 1, 0),
                                      (os.path.join(tmp, "two"), 1, 1)):
        rc, out = attempt(train_command(BUILD, config, run_dir, workers, servers), timeout=300)
        assert rc == 78, (rc, out[-3000:])
        assert "data.test" in out and shard in out, out[-3000:]
        assert not events(run_dir, "train"), "the job trained before checking the test split"
    print("refused before training:", [l for l in out.splitlines() if "data.test" in l][0][:300])


def disk_full(tmp):
    config = write_config(tmp, epochs=20, incremental="false")
    run(train_command(BUILD, config, os.path.join(tmp, "warm")) + ["--max_steps=1"])  # the data
    mnt = os.path.join(tmp, "small")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt]).returncode != 0:
        print("SKIPPED: cannot mount a tmpfs here (needs root)")
        sys.exit(77)
    try:
        run_dir = os.path.join(mnt, "run")
        launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "launch",
                                "moerec-launch")
        env = dict(ENV, MOEREC_BIN=os.path.join(BUILD, "launch", "moerec"), MOEREC_RESTART_DELAY="0")
        rc, out = attempt([launcher, f"--config={config}", f"--run_dir={run_dir}", "--workers=1",
                           "--servers=1", "--max-restarts=2"], timeout=600, env=env)
        assert rc == 78, (rc, out[-4000:])
        assert "No space left on device" in out, out[-4000:]
        assert "bytes free in" in out or "No space left on device" in out
        assert "not restarting" in out and "restart 1 of 2" not in out, out[-4000:]
        kept = whole_checkpoints(run_dir)
        assert kept, "no whole checkpoint survived"
        # The last whole checkpoint loads: resume on a disk with room.
        roomy = os.path.join(tmp, "roomy")
        shutil.copytree(run_dir, roomy)
        rc2, out2 = attempt(train_command(BUILD, config, roomy, 1, 1) + ["--max_steps=1"])
        resumed = events(roomy, "resume")
        assert rc2 == 0 and resumed and resumed[-1]["checkpoint"] == kept[-1], out2[-3000:]
        for line in out.splitlines():
            if "moerec train (rank" in line or "not restarting" in line:
                print(line[:400])
        print(f"the launcher did not restart; {kept[-1]} loaded on a disk with room")
    finally:
        subprocess.run(["umount", "-l", mnt])


# --- kills at random steps, compared bit for bit ------------------------------------------------
# Memory-only servers and full checkpoints: a checkpoint's rows are its shards' rows.dat files
# (ps/internal/row_file.h), which the comparison reads row by row; dense.bin and the expert files
# are compared byte for byte.
FINAL_STEP = 60
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "launch", "moerec-launch")


def seeds():
    return [int(s) for s in os.environ.get("FAULT_SEEDS", "1 2 3 4").split()]


def bit_config(tmp, model=None):
    path = write_config(tmp, epochs=1, incremental="false", model=model, name="bits.pbtxt")
    text = open(path).read()
    text = text.replace("eval_every_steps: 40", "eval_every_steps: 0")
    text = text.replace("restore_best: true", "restore_best: false")
    text = text.replace("log_every_steps: 10", "log_every_steps: 2")
    text = text.replace('ps { db_dir: "ps-db" cache_mb: 1 }', "ps { }")
    text = text.replace("every_steps: 20", "every_steps: 10")
    open(path, "w").write(text)
    return path


def read_rows(path):
    """{(table name hash, feature id): stored value bytes} of a row file."""
    rows = {}
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"MOEROWS1", path
    at = 8
    while at < len(data):
        table, key, n = int.from_bytes(data[at:at + 8], "little"), \
            int.from_bytes(data[at + 8:at + 16], "little"), \
            int.from_bytes(data[at + 16:at + 20], "little")
        at += 20
        assert n != 0xffffffff, f"{path}: a deleted row in a full checkpoint"
        assert (table, key) not in rows, f"{path}: row {table}/{key} twice"
        rows[(table, key)] = data[at:at + n]
        at += n
    return rows


def final_state(run_dir):
    """(dense and expert files' bytes by name, every row) of the run's final checkpoint."""
    name = "step-%010d" % FINAL_STEP
    ckpt = os.path.join(run_dir, "checkpoints", name)
    assert os.path.exists(os.path.join(ckpt, "MANIFEST")), f"{ckpt} is not whole"
    files = {}
    for path in sorted(glob.glob(os.path.join(ckpt, "*.bin"))):
        files[os.path.basename(path)] = open(path, "rb").read()
    rows = {}
    shards = sorted(glob.glob(os.path.join(ckpt, "ps", "shard-*", "rows.dat")))
    assert shards, f"{ckpt}: no row files (memory-only servers expected)"
    for shard in shards:
        part = read_rows(shard)
        assert not set(part) & set(rows), f"{shard}: rows another shard holds too"
        rows.update(part)
    return files, rows


def assert_same_model(ref, got, what):
    ref_files, ref_rows = ref
    files, rows = got
    assert sorted(files) == sorted(ref_files), (what, sorted(files), sorted(ref_files))
    for name in ref_files:
        assert files[name] == ref_files[name], f"{what}: {name} differs from the uninterrupted run"
    assert len(rows) == len(ref_rows), (what, len(rows), len(ref_rows))
    differ = [k for k in ref_rows if rows.get(k) != ref_rows[k]]
    assert not differ, f"{what}: {len(differ)} of {len(ref_rows)} rows differ, e.g. {differ[:3]}"
    return f"{len(files)} dense/expert files and {len(rows)} rows bit-identical"


def uninterrupted(tmp, config, workers=2, servers=2, teachers=0):
    run_dir = os.path.join(tmp, "whole")
    run(train_command(BUILD, config, run_dir, workers, servers, teachers) +
        ["--max_steps=%d" % FINAL_STEP])
    return final_state(run_dir)


def rank_pids(tag):
    """{world rank: pid} of the moerec ranks started with MOEREC_TEST_TAG=tag."""
    pids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if not cmd or not cmd[0].endswith(b"/moerec") or f"MOEREC_TEST_TAG={tag}".encode() not in env:
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                pids[int(e.split(b"=")[1])] = int(pid)
    return pids


def last_train_step(run_dir):
    steps = [l["step"] for l in events(run_dir, "train")]
    return max(steps) if steps else -1


def launch_and_kill(config, run_dir, workers, servers, kill_step, victims, tag, teachers=0):
    """Runs the job under launch/moerec-launch and SIGKILLs world ranks `victims` (a list, or
    "all") once the job has logged step kill_step; returns (launcher output, lines of
    metrics.jsonl). The launcher must restart the job and the job must finish."""
    env = dict(ENV, MOEREC_BIN=os.path.join(BUILD, "launch", "moerec"), MOEREC_RESTART_DELAY="0",
               MOEREC_TEST_TAG=tag)
    cmd = [LAUNCHER, f"--config={config}", f"--run_dir={run_dir}", f"--workers={workers}",
           f"--servers={servers}", f"--teachers={teachers}", "--max-restarts=2", "--",
           "--max_steps=%d" % FINAL_STEP]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 300
        while last_train_step(run_dir) < kill_step:
            assert proc.poll() is None, "the job ended before the kill:\n" + "".join(output)[-3000:]
            assert time.time() < deadline, "the job did not reach the kill step"
            time.sleep(0.01)
        assert len(events(run_dir, "start")) == 1, "the job restarted before the kill"
        pids = rank_pids(tag)
        targets = sorted(pids) if victims == "all" else victims
        assert all(r in pids for r in targets), (targets, pids)
        for r in targets:
            os.kill(pids[r], signal.SIGKILL)
        killed_at = last_train_step(run_dir)
        proc.wait(timeout=400)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            kill_job(proc)
    out = "".join(output)
    assert proc.returncode == 0, (proc.returncode, out[-4000:])
    assert "restart 1 of 2" in out and "restart 2 of 2" not in out, out[-4000:]
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    return out, lines, killed_at


def kill_at_random_steps(tmp, victims_of, model=None, what="rank", config=None, teachers=0,
                         layout=None):
    """victims_of(seed) -> the world ranks to kill (or "all"); one launcher run per seed, killing
    at a step drawn from the seed. The job: bit_config's (with `model`), or `config` run with
    `teachers` teacher ranks; 2 workers and 2 servers. `layout`: words the job's description of
    its ranks must hold."""
    if config is None:
        config = bit_config(tmp, model=model)
    ref = uninterrupted(tmp, config, teachers=teachers)
    for seed in seeds():
        rng = random.Random(seed)
        kill_step = rng.randrange(3, FINAL_STEP - 4)
        victims = victims_of(seed)
        run_dir = os.path.join(tmp, f"seed{seed}")
        out, lines, killed_at = launch_and_kill(config, run_dir, 2, 2, kill_step, victims,
                                                f"{os.getpid()}-{seed}", teachers)
        assert layout is None or layout in out, (layout, out[-3000:])
        resumes = [l for l in lines if l["event"] == "resume"]
        # Step s is logged before its checkpoint is written: the checkpoints before the last
        # logged step are whole for sure.
        expected = ((killed_at - 1) // 10) * 10
        if resumes:
            assert resumes[-1]["step"] >= expected, (resumes, killed_at)
        else:
            assert expected == 0, f"killed at step {killed_at}, but the job started afresh"
        same = assert_same_model(ref, final_state(run_dir), f"seed {seed}")
        print(f"seed {seed}: killed {what} {victims} at step {killed_at}, resumed at "
              f"{resumes[-1]['step'] if resumes else 0}: {same}")
        shutil.rmtree(run_dir, ignore_errors=True)


def kill_server(tmp):
    # World ranks 0, 1 are the workers, 2 and 3 the servers; the seeds take turns.
    kill_at_random_steps(tmp, lambda seed: [2 + seed % 2], what="server")


def kill_worker(tmp):
    # Odd seeds kill worker 1, even ones the chief (worker 0).
    kill_at_random_steps(tmp, lambda seed: [seed % 2], model=EP_MODEL, what="worker")


def kill_teacher(tmp):
    # The frozen teacher: a ranking MMoE trained by its own job on the matching data.
    import distributed_training_test as dist
    data = os.path.join(tmp, "mdata")
    teacher_config = os.path.join(tmp, "teacher.pbtxt")
    with open(teacher_config, "w") as f:
        f.write(dist.MATCHING.format(data=data, batch=128, towers="", distill="")
                .replace("two_tower {  temperature: 0.1  }", dist.TEACHER_MMOE.format())
                .replace("retrieval { ks: 10 ks: 50 }", "")
                .replace("restore_best: false", "restore_best: true")
                + "checkpoint { every_minutes: 30 }\n")  # the best state is a checkpoint
    teacher_dir = os.path.join(tmp, "teacher")
    run(train_command(BUILD, teacher_config, teacher_dir))
    towers, _ = dist.TOWERS["dsmoe"]
    distill = (f"distill {{{{ teacher {{{{ {dist.TEACHER_MODEL} }}}} mode: OFFLINE "
               f"teacher_run_dir: \"{teacher_dir}\" placement: TEACHER_RANKS list_size: 6 }}}}")
    student = os.path.join(tmp, "student.pbtxt")
    with open(student, "w") as f:
        f.write(dist.MATCHING.format(data=data, batch=64, towers=towers.format(),
                                     distill=distill.format())
                .replace("retrieval { ks: 10 ks: 50 }", "")
                + "checkpoint { every_steps: 10 }\ncluster { num_teachers: 1 }\n")
    # One node: workers on ranks 0 and 1, the servers on the highest ranks (3, 4), the teacher
    # on rank 2 (scheduler/role_layout.h).
    kill_at_random_steps(tmp, lambda seed: [2], what="teacher", config=student, teachers=1,
                         layout="teachers on ranks 2")


def node_loss(tmp):
    kill_at_random_steps(tmp, lambda seed: "all", what="every rank")


def kill_in_checkpoint(tmp):
    config = bit_config(tmp)
    ref = uninterrupted(tmp, config)
    for seed, point in zip(seeds(), ["ps", "dense", "ps", "dense"]):
        step = random.Random(seed).randrange(2, FINAL_STEP // 10) * 10
        run_dir = os.path.join(tmp, f"seed{seed}")
        env = dict(ENV, MOEREC_FAULT_KILL_IN_CHECKPOINT=f"{step}:{point}")
        cmd = train_command(BUILD, config, run_dir, 2, 2) + ["--max_steps=%d" % FINAL_STEP]
        rc, out = attempt(cmd, env=env)
        assert rc != 0 and f"MOEREC_FAULT_KILL_IN_CHECKPOINT={step}:{point}" in out, \
            (rc, out[-3000:])
        partial = os.path.join(run_dir, "checkpoints", "step-%010d" % step)
        assert os.path.isdir(partial) and not os.path.exists(os.path.join(partial, "MANIFEST"))
        previous = "step-%010d" % (step - 10)
        assert whole_checkpoints(run_dir)[-1] == previous, whole_checkpoints(run_dir)
        # The launcher's restart, without the fault.
        env = dict(ENV, MOEREC_BIN=os.path.join(BUILD, "launch", "moerec"))
        rc, out = attempt([LAUNCHER, f"--config={config}", f"--run_dir={run_dir}", "--workers=2",
                           "--servers=2", "--", "--max_steps=%d" % FINAL_STEP], env=env)
        assert rc == 0, out[-3000:]
        resumed = events(run_dir, "resume")[-1]
        assert resumed["checkpoint"] == previous, (resumed, previous)
        same = assert_same_model(ref, final_state(run_dir), f"seed {seed}")
        print(f"seed {seed}: chief killed in checkpoint {step} at '{point}': the partial folder "
              f"was ignored, resumed from {previous}: {same}")
        shutil.rmtree(run_dir, ignore_errors=True)


# --- storage faults ------------------------------------------------------------------------------
def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path]).returncode:
        print("SKIPPED: cannot mount a tmpfs here (needs root)")
        sys.exit(77)


def fill(path):
    """Writes <path>/filler until the file system is full."""
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError:
            pass


def wait_for(pred, proc, what, timeout=300):
    deadline = time.time() + timeout
    while not pred():
        assert proc.poll() is None, f"the job ended before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def resumes_from_copy(tmp, config, run_dir, expected, name):
    """Copies run_dir to a roomy folder, runs 1 more step there and checks that the job resumed
    from checkpoint `expected`."""
    roomy = os.path.join(tmp, name)
    shutil.copytree(run_dir, roomy, ignore=shutil.ignore_patterns("filler", "LOCK"))
    rc, out = attempt(train_command(BUILD, config, roomy, 2, 1) + ["--max_steps=1000"])
    resumed = events(roomy, "resume")
    assert rc == 0 and resumed and resumed[-1]["checkpoint"] == expected, (expected, out[-3000:])


def paused(tag, action):
    """Runs action() while every rank of the job tagged `tag` is stopped (SIGSTOP), so that a
    fault lands between two of its steps however fast it trains."""
    pids = rank_pids(tag)
    for pid in pids.values():
        os.kill(pid, signal.SIGSTOP)
    try:
        action()
    finally:
        for pid in pids.values():
            os.kill(pid, signal.SIGCONT)


def checkpoint_skip(tmp):
    config = bit_config(tmp)
    # Long enough (about 600 steps) that the job is still running when the test has seen the
    # first skip, however loaded the machine.
    text = open(config).read().replace("epochs: 1 ", "epochs: 8 ")
    open(config, "w").write(text)
    skip_config = os.path.join(tmp, "skip.pbtxt")
    open(skip_config, "w").write(text.replace("resume: true", "resume: true on_failure: SKIP"))
    run(train_command(BUILD, config, os.path.join(tmp, "warm")) + ["--max_steps=1"])  # the data
    for mode, cfg in (("SKIP", skip_config), ("STOP", config)):
        run_dir = os.path.join(tmp, mode)
        ckpts = os.path.join(run_dir, "checkpoints")
        mount_tmpfs(ckpts, "16m")
        tag = f"{os.getpid()}-{mode}"
        try:
            proc = subprocess.Popen(train_command(BUILD, cfg, run_dir, 2, 1) + ["--max_steps=600"],
                                    env=dict(ENV, MOEREC_TEST_TAG=tag), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            output = []
            reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
            reader.start()
            try:
                wait_for(lambda: whole_checkpoints(run_dir), proc, "the first checkpoint")
                paused(tag, lambda: fill(ckpts))
                kept = whole_checkpoints(run_dir)[-1]
                if mode == "SKIP":
                    wait_for(lambda: events(run_dir, "checkpoint_skipped"), proc, "a skip")
                    paused(tag, lambda: os.remove(os.path.join(ckpts, "filler")))
                    skipped_at = events(run_dir, "checkpoint_skipped")[0]["step"]
                proc.wait(timeout=300)
                reader.join(timeout=10)
            finally:
                if proc.poll() is None:
                    kill_job(proc)
            out = "".join(output)
            if mode == "SKIP":
                assert proc.returncode == 0, out[-3000:]
                skips = events(run_dir, "checkpoint_skipped")
                assert all("No space left on device" in e["error"] for e in skips), skips
                assert "skipped (checkpoint.on_failure: SKIP)" in out, out[-3000:]
                names = sorted(os.listdir(ckpts))
                assert names == whole_checkpoints(run_dir), f"partial folders left: {names}"
                last = whole_checkpoints(run_dir)[-1]
                assert int(last.split("-")[1]) > skipped_at, (last, skipped_at)
                print(f"SKIP: {len(skips)} checkpoint(s) skipped from step {skipped_at} on a full "
                      f"disk, the job went on and wrote {last} once there was room")
            else:
                assert proc.returncode == 78, (proc.returncode, out[-3000:])
                full = [l for l in out.splitlines() if "No space left on device" in l]
                assert full and ckpts in full[0], out[-3000:]
                # A checkpoint whose files were all written before the disk filled may still
                # finish; none after it can.
                last = whole_checkpoints(run_dir)[-1]
                assert last >= kept, (last, kept)
                print("STOP:", full[0][:300])
            resumes_from_copy(tmp, cfg, run_dir, last, mode + "-roomy")
            print(f"{mode}: the last whole checkpoint {last} loads")
        finally:
            subprocess.run(["umount", "-l", ckpts])


def rocksdb_eio(tmp):
    """RocksDB's writes fail with EIO (tests/fault_eio.c, LD_PRELOAD) from the third
    checkpoint on, until the launcher's restart: the job stops naming the file (not in an
    assertion of RocksDB's), the restart
    resumes from the last whole checkpoint and the job finishes."""
    shim = os.path.join(BUILD, "tests", "libmoerec_fault_eio.so")
    assert os.path.exists(shim), shim
    config = write_config(tmp, epochs=3, incremental="false")
    text = open(config).read().replace("eval_every_steps: 40", "eval_every_steps: 0")
    open(config, "w").write(text)
    run(train_command(BUILD, config, os.path.join(tmp, "warm")) + ["--max_steps=1"])  # the data
    run_dir = os.path.join(tmp, "run")
    trigger = os.path.join(tmp, "fail-now")
    tag = f"{os.getpid()}-eio"
    env = dict(ENV, MOEREC_BIN=os.path.join(BUILD, "launch", "moerec"), MOEREC_RESTART_DELAY="1",
               MOEREC_TEST_TAG=tag, LD_PRELOAD=shim, MOEREC_FAULT_EIO_TRIGGER=trigger,
               MOEREC_FAULT_EIO_PREFIX=os.path.join(run_dir, "ps-db"))
    proc = subprocess.Popen([LAUNCHER, f"--config={config}", f"--run_dir={run_dir}",
                             "--workers=2", "--servers=1", "--max-restarts=1", "--",
                             "--max_steps=150"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    failed = threading.Event()

    def read():
        for line in proc.stdout:
            output.append(line)
            if "run failed with exit status" in line:
                failed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(whole_checkpoints(run_dir)) >= 2, proc, "two checkpoints")
        paused(tag, lambda: open(trigger, "w").close())
        kept = whole_checkpoints(run_dir)[-1]
        assert failed.wait(120), "the job did not stop on the I/O errors:\n" + "".join(output)[-3000:]
        os.remove(trigger)  # the disk is back before the restart
        proc.wait(timeout=300)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            kill_job(proc)
    out = "".join(output)
    assert proc.returncode == 0, out[-4000:]
    # The failed flush comes back as the workers' error, naming the server and the file, and
    # not as an assertion of RocksDB's (its info log goes to glog, not to a file on the failing
    # disk: Debian's librocksdb asserts when its LOG writer is used again after a failed write).
    named = [l for l in out.splitlines()
             if l.startswith("moerec train (rank") and "Input/output error" in l and
             os.path.join(run_dir, "ps-db") in l and ".sst" in l]
    assert named, "\n".join(l for l in out.splitlines() if "progress.cc" not in l)[:6000]
    assert "Assertion" not in out, out[-4000:]
    assert "restart 1 of 1" in out, out[-4000:]
    resumed = events(run_dir, "resume")
    assert resumed and resumed[-1]["checkpoint"] >= kept, (resumed, kept)
    final = [l for l in events(run_dir, "final")]
    assert final and final[-1]["step"] == 150, final
    print("RocksDB write errors stopped the job:", named[0][:300])
    print(f"the launcher restarted it; it resumed from {resumed[-1]['checkpoint']} "
          f"(the last whole one before the fault: {kept}) and finished")


def unreadable_files(tmp):
    config = write_config(tmp, epochs=1, incremental="false")
    text = open(config).read().replace('ps { db_dir: "ps-db" cache_mb: 1 }', "ps { }")
    open(config, "w").write(text)
    run_dir = os.path.join(tmp, "run")
    cmd = train_command(BUILD, config, run_dir, 1, 1)
    run(cmd + ["--max_steps=60"])
    kept = whole_checkpoints(run_dir)
    assert len(kept) == 2, kept
    root = os.path.join(run_dir, "checkpoints")
    # A truncated file costs its checkpoint: dense.bin of the newest, then a row file of both.
    dense = os.path.join(root, kept[-1], "dense.bin")
    os.truncate(dense, os.path.getsize(dense) // 2)
    rc, out = attempt(cmd + ["--max_steps=70"])
    assert rc == 0 and events(run_dir, "resume")[-1]["checkpoint"] == kept[0], out[-3000:]
    assert f"skipping checkpoint {kept[-1]}" in out and dense in out, out[-3000:]
    print("a truncated dense.bin cost its checkpoint:",
          [l for l in out.splitlines() if "skipping checkpoint" in l][0][:300])
    for name in whole_checkpoints(run_dir):
        for rows in glob.glob(os.path.join(root, name, "ps", "shard-*", "rows.dat")):
            os.truncate(rows, os.path.getsize(rows) - 3)
    rc, out = attempt(cmd + ["--max_steps=80"])
    assert rc == 78 and "rows.dat" in out and "truncated" in out, (rc, out[-3000:])
    print("truncated row files in every checkpoint: refused, naming them")

    # Input files: a truncated training shard, then (as nobody) an unreadable one, an
    # unreadable config.
    shard = sorted(glob.glob(os.path.join(tmp, "data", "train", "*.mrs")))[0]
    saved = open(shard, "rb").read()
    os.truncate(shard, len(saved) - 100)
    rc, out = attempt(train_command(BUILD, config, os.path.join(tmp, "t1")))
    assert rc == 78 and shard in out, (rc, out[-3000:])
    assert not events(os.path.join(tmp, "t1"), "train"), "trained on a truncated shard"
    print("truncated shard:", [l for l in out.splitlines() if shard in l][0][:300])
    open(shard, "wb").write(saved)
    if os.getuid() != 0:
        print("not root: the unreadable-file checks need to run the job as another user; skipped")
        return
    os.chmod(tmp, 0o755)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    for path, what in ((shard, "shard"), (config, "config")):
        os.chmod(path, 0)
        try:
            job = os.path.join(tmp, "as-nobody-" + what)
            os.makedirs(job)
            os.chmod(job, 0o777)
            rc, out = attempt(nobody + train_command(BUILD, config, job))
            assert rc == 78 and path in out and "Permission denied" in out, (what, rc, out[-3000:])
            print(f"unreadable {what}:", [l for l in out.splitlines() if path in l][0][:300])
        finally:
            os.chmod(path, 0o644)


if __name__ == "__main__":
    main({"resume_after_kill": resume_after_kill, "resume_in_phases": resume_in_phases,
          "resume_expert_parallel": resume_expert_parallel,
          "expert_replacement": expert_replacement, "resume_at_phase_end": resume_at_phase_end,
          "hung_rank": hung_rank,
          "run_dir_lock": run_dir_lock, "damaged_checkpoints": damaged_checkpoints,
          "resume_false": resume_false, "huge_model": huge_model, "disk_full": disk_full,
          "damaged_split": damaged_split, "kill_server": kill_server, "kill_worker": kill_worker,
          "node_loss": node_loss, "kill_in_checkpoint": kill_in_checkpoint,
          "kill_teacher": kill_teacher,
          "checkpoint_skip": checkpoint_skip, "rocksdb_eio": rocksdb_eio,
          "unreadable_files": unreadable_files},
         "moerec-fault-")
