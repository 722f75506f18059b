#!/usr/bin/env python3
"""The ranking zoo on the seesaw benchmark (issue 11, item 8).

Trains every model of configs/models/ (same data, embeddings, optimizer and budget: the
configs differ only in their model section, and M3oE's architecture block) with several seeds
through the moerec binary, and reports per model: mean and weighted test AUC, the gap to the
oracle's mean AUC, per-(domain, task) test AUC (the tail domain included), training samples/s
(mean of the logged windows after the first) next to MMoE's in the same run, and M3oE's
alpha/beta at the end.

Usage: bench/zoo_bench.py [--build build] [--seeds 1,2,3] [--models m3oe,mmoe,...]
                          [--out bench/results/zoo.md] [--max_steps N] [--raw FILE]
--raw FILE: every run's figures as one JSON line (model, seed, max_steps, figures); runs already
  in FILE are reused instead of trained again, so a long benchmark can be resumed or extended.
--max_steps N: a throughput pass (every model N steps; samples/s side by side in one quiet run).
Prints name=value lines (<model>_mean_test_auc, <model>_samples_per_sec, ...) and writes a
markdown table to --out.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_lines(binary, config_path, seed, work, max_steps=0, edit=None):
    """Trains config_path with train.seed = seed (and `edit` applied to the config's text) in
    the folder `work`; returns the metrics.jsonl lines."""
    text = open(config_path).read()
    text = text.replace('"../../datasets/', '"' + os.path.join(ROOT, "datasets") + "/")
    # train.seed only: the synthetic data keep their own seed, so every run sees the same data.
    text, n = re.subn(r"(train \{[^}]*?\n  seed: )\d+", r"\g<1>%d" % seed, text)
    if n != 1:
        sys.exit("%s: no train.seed to set" % config_path)
    if edit is not None:
        text = edit(text)
    cfg = os.path.join(work, "job.pbtxt")
    open(cfg, "w").write(text)
    run_dir = os.path.join(work, "run")
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    cmd = [binary, "train", "--config=" + cfg, "--run_dir=" + run_dir]
    if max_steps > 0:
        cmd.append("--max_steps=%d" % max_steps)
    subprocess.run(cmd, check=True,
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]


def run(binary, config_path, seed, work, max_steps=0):
    lines = train_lines(binary, config_path, seed, work, max_steps)
    final = [l for l in lines if l["event"] == "final"][-1]
    speeds = [l["samples_per_sec"] for l in lines if l["event"] == "train"][1:]
    evals = [l for l in lines if l["event"] == "eval"]
    out = {
        "mean_test_auc": final["mean_test_auc"],
        "weighted_test_auc": final["weighted_test_auc"],
        "oracle_mean_auc": final["oracle_mean_auc"],
        "samples_per_sec": statistics.mean(speeds) if speeds else float("nan"),
        "steps": final["step"],
    }
    for k, v in final.items():
        if k.startswith("test_auc/"):
            out[k] = v
    for k in ("alpha_domain", "alpha_task", "beta_domain", "beta_task"):
        if evals and k in evals[-1]:
            out[k] = evals[-1][k]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--models", default="")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "zoo.md"))
    # A throughput pass: every model for this many steps only (its AUCs are not the benchmark's).
    ap.add_argument("--max_steps", type=int, default=0)
    ap.add_argument("--raw", default="")
    args = ap.parse_args()
    done = {}
    if args.raw and os.path.exists(args.raw):
        for line in open(args.raw):
            r = json.loads(line)
            done[(r["model"], r["seed"], r["max_steps"])] = r["figures"]
    binary = os.path.join(args.build, "launch", "moerec")
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg_dir = os.path.join(ROOT, "configs", "models")
    # Every single-process ranking config of the seesaw benchmark (the expert-parallel *_ep64
    # ones are distributed jobs; the matching ones are bench/matching_bench.py's).
    def ranking(f):
        text = open(os.path.join(cfg_dir, f)).read()
        return "\ncluster {" not in text and "matching {" not in text
    models = args.models.split(",") if args.models else sorted(
        f[:-len(".pbtxt")] for f in os.listdir(cfg_dir) if f.endswith(".pbtxt") and ranking(f))
    results = {}
    for m in models:
        runs = []
        for s in seeds:
            key = (m, s, args.max_steps)
            if key not in done:
                with tempfile.TemporaryDirectory() as work:
                    done[key] = run(binary, os.path.join(cfg_dir, m + ".pbtxt"), s, work,
                                    args.max_steps)
                if args.raw:
                    with open(args.raw, "a") as f:
                        f.write(json.dumps({"model": m, "seed": s, "max_steps": args.max_steps,
                                            "figures": done[key]}) + "\n")
            runs.append(done[key])
            print("# %s seed %d: mean test AUC %.4f" % (m, s, runs[-1]["mean_test_auc"]),
                  file=sys.stderr)
        results[m] = runs

    def mean(m, k):
        return statistics.mean(r[k] for r in results[m])

    def std(m, k):
        v = [r[k] for r in results[m]]
        return statistics.stdev(v) if len(v) > 1 else 0.0

    cells = sorted({k for runs in results.values() for k in runs[0] if k.startswith("test_auc/")})
    oracle = mean(models[0], "oracle_mean_auc")
    for m in models:
        for k in ("mean_test_auc", "weighted_test_auc", "samples_per_sec"):
            print("%s_%s=%.4f" % (m, k, mean(m, k)))
        print("%s_gap_to_oracle=%.4f" % (m, oracle - mean(m, "mean_test_auc")))
        for c in cells:
            print("%s_%s=%.4f" % (m, c.replace("/", "_"), mean(m, c)))
        for k in ("alpha_domain", "alpha_task", "beta_domain", "beta_task"):
            if k in results[m][0]:
                print("%s_%s=%.4f" % (m, k, mean(m, k)))
    print("oracle_mean_auc=%.4f" % oracle)

    rows = ["| model | mean test AUC | weighted | gap to oracle | " +
            " | ".join(c[len("test_auc/"):] for c in cells) + " | samples/s | vs MMoE |",
            "|---" * (6 + len(cells)) + "|"]
    ref = mean("mmoe", "samples_per_sec") if "mmoe" in results else float("nan")
    for m in models:
        rows.append("| %s | %.4f ± %.4f | %.4f | %.4f | %s | %.0f | %.2f |" % (
            m, mean(m, "mean_test_auc"), std(m, "mean_test_auc"), mean(m, "weighted_test_auc"),
            oracle - mean(m, "mean_test_auc"),
            " | ".join("%.4f" % mean(m, c) for c in cells), mean(m, "samples_per_sec"),
            mean(m, "samples_per_sec") / ref))
    arch = [m for m in models if "alpha_domain" in results[m][0]]
    notes = ["", "Oracle mean AUC (true probabilities): %.4f." % oracle]
    for m in arch:
        notes.append("%s at the end (mean of seeds): alpha_domain %.4f, alpha_task %.4f, "
                     "beta_domain %.4f, beta_task %.4f." % (
                         m, mean(m, "alpha_domain"), mean(m, "alpha_task"),
                         mean(m, "beta_domain"), mean(m, "beta_task")))
    with open(args.out, "w") as f:
        f.write("# The ranking zoo on the seesaw benchmark%s\n\n" % (
            " (throughput pass: %d steps each)" % args.max_steps if args.max_steps else ""))
        f.write("`bench/zoo_bench.py --seeds %s` on %s, %d cores; OMP_NUM_THREADS=%s. Every model "
                "trains with configs/models/<model>.pbtxt: the same data (400k synthetic samples, "
                "3 domains with the tail at 3%%, 2 tasks whose relation flips by domain), "
                "embeddings, Adam 2e-3, batch 512, 3 epochs, evaluation every 200 steps, early "
                "stop after 4 evaluations without a better validation mean AUC, best state "
                "restored; no model was tuned. Test AUC, mean ± std over the seeds.\n\n" % (
                    args.seeds, platform.processor() or platform.machine(), os.cpu_count(),
                    os.environ.get("OMP_NUM_THREADS", "2")))
        f.write("\n".join(rows) + "\n" + "\n".join(notes) + "\n")


if __name__ == "__main__":
    main()
