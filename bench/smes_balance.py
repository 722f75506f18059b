#!/usr/bin/env python3
"""SMES's global load balance on the seesaw benchmark: beta > 0 against beta = 0 (issue 12).

Trains configs/models/smes.pbtxt (16 experts, K_s = 2, K_a = 1) with its balance_weight
(beta = 0.01) and with beta = 0, several seeds each, through the moerec binary, and reports per
setting (mean over seeds): mean and weighted test AUC, the expert load's coefficient of
variation and max / mean, and the active experts per sample (mean and max), each averaged over
the training log lines of the last epoch (their statistics are the cluster's, all-reduced every
step), plus each task's expert shares at the end. Activated experts per sample against dense
MMoE routing's E: the FLOPs of the expert layer saved.

Usage: bench/smes_balance.py [--build build] [--seeds 1,2,3] [--betas 0.01,0] [--out FILE]
Prints name=value lines (smes_beta<b>_<figure>) and writes a markdown table to --out.
"""
import argparse
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_bench import ROOT, train_lines  # noqa: E402


def run(binary, beta, seed, work):
    def set_beta(text):
        text, n = re.subn(r"balance_weight: [0-9.e-]+", "balance_weight: %g" % beta, text)
        if n != 1:
            sys.exit("configs/models/smes.pbtxt: no balance_weight to set")
        return text

    lines = train_lines(binary, os.path.join(ROOT, "configs", "models", "smes.pbtxt"), seed, work,
                        edit=set_beta)
    final = [l for l in lines if l["event"] == "final"][-1]
    train = [l for l in lines if l["event"] == "train"]
    last_epoch = max(l["epoch"] for l in train)
    late = [l for l in train if l["epoch"] == last_epoch]
    out = {k: final[k] for k in ("mean_test_auc", "weighted_test_auc")}
    for k in ("expert_load_cv", "expert_load_max_mean", "active_experts_mean",
              "active_experts_max"):
        out[k] = statistics.mean(l[k] for l in late)
    out["shares"] = {k: v for k, v in late[-1].items() if k.startswith("expert_share.")}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--betas", default="0.01,0")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    binary = os.path.join(args.build, "launch", "moerec")
    seeds = [int(s) for s in args.seeds.split(",")]
    keys = ("mean_test_auc", "weighted_test_auc", "expert_load_cv", "expert_load_max_mean",
            "active_experts_mean", "active_experts_max")
    rows = ["| beta | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for beta in (float(b) for b in args.betas.split(",")):
        runs = []
        for s in seeds:
            with tempfile.TemporaryDirectory() as work:
                runs.append(run(binary, beta, s, work))
            print("# beta %g seed %d: mean test AUC %.4f, load CV %.3f" % (
                beta, s, runs[-1]["mean_test_auc"], runs[-1]["expert_load_cv"]), file=sys.stderr)
        tag = "smes_beta%g" % beta
        cells = []
        for k in keys:
            v = [r[k] for r in runs]
            m = statistics.mean(v)
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            print("%s_%s=%.4f" % (tag, k, m))
            cells.append("%.4f ± %.4f" % (m, sd))
        flops = 1.0 - statistics.mean(r["active_experts_mean"] for r in runs) / 16.0
        print("%s_expert_flops_saved_vs_mmoe=%.4f" % (tag, flops))
        rows.append("| %g | %s |" % (beta, " | ".join(cells)))
        shares = runs[0]["shares"]
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:6]
        print("# %s seed %d, largest task shares at the end: %s" % (
            tag, seeds[0], ", ".join("%s %.3f" % kv for kv in top)), file=sys.stderr)
    if args.out:
        open(args.out, "w").write("\n".join(rows) + "\n")
    print("\n".join(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
