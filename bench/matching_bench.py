#!/usr/bin/env python3
"""The matching benchmark (bench/results/matching.md): Recall@50 per scenario, over 3 seeds, of
two-tower, two-tower + SAP, SAP-MMoE without distillation, DSMOE (SAP-MMoE + distillation) and
the teacher's own ranking quality (its test AUC on the labelled pairs, next to the students'),
on configs/models/two_tower.pbtxt's synthetic data (4 scenarios, the last a 3% tail). Also the
student's training samples/s with and without its co-trained teacher, and the oracle's recall.
dsmoe_offline trains the teacher alone first (same seed) and distils from it frozen.

  python3 bench/matching_bench.py [--seeds 1,2,3] [--models two_tower,...] [--raw FILE]
  python3 bench/matching_bench.py --placement [--steps N]

--placement: the distributed student (configs/models/dsmoe_distributed.pbtxt: 2 workers, 1
server, a frozen teacher) with the teacher on the workers and on 1 teacher rank, same run:
train_samples_per_s/teacher_on_workers, train_samples_per_s/teacher_ranks and their ratio.

Prints name=value lines (recall@50/<scenario>/<model> means over the seeds, and the raw runs
as JSON lines to --raw, which a later call with --reuse reads instead of training again).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_bench import ROOT, train_lines  # noqa: E402

CONFIGS = os.path.join(ROOT, "configs", "models")
SCENARIOS = ["featured", "follow", "search", "tail"]


def no_distill(text):
    start = text.index("    distill {")
    depth, i = 0, start
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    return text[:start] + text[i + 2:]


MODELS = {
    "two_tower": ("two_tower.pbtxt", None),
    "two_tower_sap": ("two_tower_sap.pbtxt", None),
    "sap_mmoe": ("dsmoe.pbtxt", no_distill),
    "dsmoe": ("dsmoe.pbtxt", None),
    "dsmoe_offline": ("dsmoe_offline.pbtxt", None),
    "teacher": ("dsmoe_teacher.pbtxt", None),
}


def train_teacher(binary, seed, work):
    """Trains the teacher alone (dsmoe_teacher.pbtxt, this seed); returns its run folder."""
    folder = os.path.join(work, "teacher")
    os.makedirs(folder)
    train_lines(binary, os.path.join(CONFIGS, "dsmoe_teacher.pbtxt"), seed, folder)
    return os.path.join(folder, "run")


def with_teacher(teacher_dir):
    return lambda text: text.replace('"../../runs/dsmoe_teacher"', '"%s"' % teacher_dir)


def one_run(binary, model, seed, work):
    config, edit = MODELS[model]
    if model == "dsmoe_offline":
        edit = with_teacher(train_teacher(binary, seed, work))
    lines = train_lines(binary, os.path.join(CONFIGS, config), seed, work, edit=edit)
    final = [l for l in lines if l["event"] == "final"][-1]
    speeds = [l["samples_per_sec"] for l in lines if l["event"] == "train"][1:]
    out = {"model": model, "seed": seed, "steps": final["step"],
           "samples_per_sec": statistics.mean(speeds) if speeds else float("nan"),
           "test_auc": final["mean_test_auc"]}
    for k, v in final.items():
        if k.startswith(("test_recall@", "test_hr@", "test_ndcg@")):
            out[k[len("test_"):]] = v
    return out


def placement(binary, steps):
    """The distributed student's samples/s with its frozen teacher on the workers and on a
    teacher rank (2 workers + 1 server, one compute thread per rank)."""
    import re
    import subprocess
    import tempfile
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_MCA_mpi_yield_when_idle="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    speeds = {}
    with tempfile.TemporaryDirectory() as work:
        teacher = train_teacher(binary, 1, work)
        text = open(os.path.join(CONFIGS, "dsmoe_distributed.pbtxt")).read()
        text = text.replace('"../../datasets/', '"' + os.path.join(ROOT, "datasets") + "/")
        text = with_teacher(teacher)(text)
        for name, placement_text, teachers in (("teacher_on_workers", "ON_WORKERS", 0),
                                               ("teacher_ranks", "TEACHER_RANKS", 1)):
            cfg = os.path.join(work, name + ".pbtxt")
            open(cfg, "w").write(re.sub(r"placement: \w+", "placement: " + placement_text, text)
                                 .replace("num_teachers: 1", "num_teachers: %d" % teachers))
            run_dir = os.path.join(work, name)
            subprocess.run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np",
                            str(3 + teachers), binary, "train", "--config=" + cfg,
                            "--run_dir=" + run_dir, "--max_steps=%d" % steps],
                           check=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
            rates = [l["samples_per_sec"] for l in lines if l["event"] == "train"][1:]
            speeds[name] = statistics.mean(rates)
            print(f"train_samples_per_s/{name}={speeds[name]:.0f}", flush=True)
    print(f"teacher_ranks_vs_on_workers={speeds['teacher_ranks'] / speeds['teacher_on_workers']:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--placement", action="store_true")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--raw", default="")
    ap.add_argument("--reuse", action="store_true", help="read --raw instead of training")
    args = ap.parse_args()
    binary = os.path.join(args.build, "launch", "moerec")
    if args.placement:
        placement(binary, args.steps)
        return
    runs = []
    if args.reuse:
        runs = [json.loads(l) for l in open(args.raw)]
    else:
        import tempfile
        for model in args.models.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                with tempfile.TemporaryDirectory() as work:
                    r = one_run(binary, model, seed, work)
                runs.append(r)
                print("run", json.dumps(r), flush=True)
                if args.raw:
                    with open(args.raw, "a") as f:
                        f.write(json.dumps(r) + "\n")
    oracle_path = os.path.join(ROOT, "datasets", "matching", "test", "oracle.json")
    if os.path.exists(oracle_path):
        for k, v in sorted(json.load(open(oracle_path)).items()):
            if isinstance(v, (int, float)):
                print(f"oracle_{k}={v:.4f}")
    for model in MODELS:
        mine = [r for r in runs if r["model"] == model]
        if not mine:
            continue
        for key in ["recall@50"] + [f"recall@50/{s}" for s in SCENARIOS] + ["test_auc"]:
            vals = [r[key] for r in mine if r.get(key) is not None]
            if vals:
                sd = statistics.pstdev(vals) if len(vals) > 1 else 0.0
                print(f"{key}/{model}={statistics.mean(vals):.4f} (sd {sd:.4f}, n {len(vals)})")
        print(f"train_samples_per_s/{model}={statistics.mean(r['samples_per_sec'] for r in mine):.0f}")


if __name__ == "__main__":
    main()
