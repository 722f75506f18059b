#!/usr/bin/env python3
"""The matching benchmark (bench/results/matching.md): Recall@50 per scenario, over 3 seeds, of
two-tower, two-tower + SAP, SAP-MMoE without distillation, DSMOE (SAP-MMoE + distillation) and
the teacher's own ranking quality (its test AUC on the labelled pairs, next to the students'),
on configs/models/two_tower.pbtxt's synthetic data (4 scenarios, the last a 3% tail). Also the
student's training samples/s with and without its co-trained teacher, and the oracle's recall.

  python3 bench/matching_bench.py [--seeds 1,2,3] [--models two_tower,...] [--raw FILE]

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
    "teacher": ("dsmoe_teacher.pbtxt", None),
}


def one_run(binary, model, seed, work):
    config, edit = MODELS[model]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--raw", default="")
    ap.add_argument("--reuse", action="store_true", help="read --raw instead of training")
    args = ap.parse_args()
    binary = os.path.join(args.build, "launch", "moerec")
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
