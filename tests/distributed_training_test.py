#!/usr/bin/env python3
"""End-to-end distributed training through the moerec binary and real mpirun ranks.

  bsp_equivalence   W workers in BSP (GLOBAL_BATCH_SLICES) with 1 and 2 servers, and with
                    workers and servers interleaved over two "nodes", give the losses and
                    final AUC of one process with the same global batch; so does STAR, whose
                    partitioned norm is synchronised over the workers.
  async_modes       ASP and SSP (staleness 2) end within 0.01 mean test AUC of BSP.
  expert_parallel   top-k MoE, SMES and MMoE with their experts spread over 2 workers (1 server)
                    4 workers (1 server) and 1 worker (no server) give the losses and final AUC of the same model
                    with every expert replicated (MMoE's dense routing over placed experts is
                    checked against its replicated form in tests/expert_parallel_mpi_test.cc:
                    REPLICATED MMoE is MmoeModel, another parameter layout).

  matching_bsp      a two-tower model and a SAP student with its co-trained teacher, 2 workers
                    (+ 1 server) with in-batch candidates gathered from both, give the losses and
                    the test Recall@K over the corpus of one process with the same global batch.
  export_serving    a two-tower model trained by 2 workers (+ 1 server) is exported by one process
                    (`moerec export`, flat and IVF-PQ faiss indexes): the exact Recall@K of the
                    exported embeddings is the training's test figure, the flat index's equals
                    it, IVF-PQ's is close; `moerec retrieve` answers every exported user.
  teacher_ranks     an offline teacher: a ranking model trained by its own job is loaded, frozen,
                    into a distilled two-tower student (2 workers + 1 server); with the teacher
                    on 1 and on 2 dedicated teacher ranks the student's losses and test Recall@K
                    equal those with the teacher on the workers, and the student's final
                    checkpoint holds the teacher's parameters bit for bit.
  bench_moe         `moerec bench moe` on 2 and 3 ranks (8 experts: an uneven placement) prints
                    its figures: experts 1/W per rank, dispatch bytes within 5% of the
                    routing minimum, at most top_k active experts per sample.

Usage: distributed_training_test.py BUILD_DIR CASE
"""
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_job import main, metrics, moerec, run, train_command  # noqa: E402

BUILD = sys.argv[1]

CONFIG = """
name: "dist-test"
data {{
  num_domains: 3 num_tasks: 2
  slots {{ name: "a" }} slots {{ name: "b" }} slots {{ name: "c_multi" pooling: POOLING_MEAN }}
  num_dense: 2
  train: "{data}/train" validation: "{data}/validation" test: "{data}/test"
  synthetic {{ num_samples: 30000 vocab_size: 300 samples_per_shard: 8000 seed: 5 }}
  reader {{ batch_size: {batch} worker_split: {split} shuffle_buffer: 4096 }}
}}
embedding {{ dim: 8 optimizer {{ type: ADAGRAD learning_rate: 0.05 }} }}
model {{
  domain_embedding_dim: 4
  mmoe {{ num_experts: 3 expert {{ dims: 32 dims: 16 }} tower {{ dims: 8 }}
          gate_index: BY_TASK tower_index: BY_DOMAIN_TASK }}
}}
optimizer {{ type: ADAM learning_rate: 0.003 }}
train {{ epochs: {epochs} eval_every_steps: 0 log_every_steps: 10 seed: 9 threads: 1
         restore_best: false }}
cluster {{ sync: {sync} staleness: 2 ranks_per_node: {ranks_per_node} }}
"""


def write_config(tmp, name, ranks_per_node=0, **kw):
    path = os.path.join(tmp, name + ".pbtxt")
    with open(path, "w") as f:
        f.write(CONFIG.format(data=os.path.join(tmp, "data"), ranks_per_node=ranks_per_node, **kw))
    return path


def train(config, run_dir, workers=1, servers=0):
    run(train_command(BUILD, config, run_dir, workers, servers))
    _, losses, final = metrics(run_dir)
    return losses, final


def bsp_equivalence(tmp):
    batch = 64
    single = write_config(tmp, "single", batch=2 * batch, split="GLOBAL_BATCH_SLICES",
                          epochs=1, sync="BSP")
    ref_losses, ref_final = train(single, os.path.join(tmp, "r1"))
    assert len(ref_losses) >= 10, ref_losses
    # ranks_per_node 2 splits the 4 ranks into two "nodes": servers on ranks 1 and 3, workers 0 and 2.
    for servers, ranks_per_node in ((1, 0), (2, 0), (2, 2)):
        name = f"dist_{servers}_{ranks_per_node}"
        dist = write_config(tmp, name, batch=batch, split="GLOBAL_BATCH_SLICES", epochs=1,
                            sync="BSP", ranks_per_node=ranks_per_node)
        layout = f"2 workers + {servers} servers" + (", interleaved" if ranks_per_node else "")
        losses, final = train(dist, os.path.join(tmp, name), workers=2, servers=servers)
        assert losses.keys() == ref_losses.keys(), (losses.keys(), ref_losses.keys())
        for step, ref in ref_losses.items():
            assert abs(losses[step] - ref) <= 2e-4 * max(1.0, abs(ref)), (layout, step,
                                                                        losses[step], ref)
        for key in ("mean_test_auc", "weighted_test_auc"):
            assert abs(final[key] - ref_final[key]) <= 1e-3, (layout, key, final[key],
                                                             ref_final[key])
        print(f"{layout}: {len(losses)} logged losses within 2e-4, "
              f"mean test AUC {final['mean_test_auc']:.5f} vs one process "
              f"{ref_final['mean_test_auc']:.5f}")
    # STAR: its partitioned norm's training statistics are the global batch's (synchronised).
    star = "star {{ star {{ dims: 16 dims: 8 }} tower {{ dims: 8 }} aux {{ dims: 8 }} }}"
    runs = []
    for workers, servers, size in ((1, 0, 2 * batch), (2, 1, batch)):
        config = write_config(tmp, f"star_{workers}", batch=size, split="GLOBAL_BATCH_SLICES",
                              epochs=1, sync="BSP")
        with_model(config, star.format())
        runs.append(train(config, os.path.join(tmp, f"star_{workers}"), workers, servers))
    (ref_losses, ref_final), (losses, final) = runs
    assert losses.keys() == ref_losses.keys() and len(losses) >= 10, (losses, ref_losses)
    for step, ref in ref_losses.items():
        assert abs(losses[step] - ref) <= 2e-4 * max(1.0, abs(ref)), ("star", step, losses[step],
                                                                    ref)
    assert abs(final["mean_test_auc"] - ref_final["mean_test_auc"]) <= 1e-3, (final, ref_final)
    print(f"STAR, 2 workers + 1 server: {len(losses)} logged losses within 2e-4 of one process")


def async_modes(tmp):
    results = {}
    for sync in ("BSP", "ASP", "SSP"):
        config = write_config(tmp, sync, batch=64, split="FILE_SHARES", epochs=2, sync=sync)
        _, final = train(config, os.path.join(tmp, sync), workers=2, servers=1)
        results[sync] = final["mean_test_auc"]
    print("mean test AUC:", results)
    for sync in ("ASP", "SSP"):
        assert abs(results[sync] - results["BSP"]) <= 0.01, (sync, results)


EXPERT_MODELS = {
    "topk_moe": "topk_moe {{ num_experts: 5 top_k: 2 capacity_factor: 1.0 balance_weight: 0.05 "
                "encoder {{ dims: 16 }} expert {{ dims: 16 dims: 8 }} tower {{ dims: 8 }} "
                "placement {{ kind: {kind} }} }}",
    "smes": "smes {{ num_experts: 6 shared_k: 2 private_k: 1 balance_weight: 0.05 "
            "encoder {{ dims: 16 }} expert {{ dims: 16 dims: 8 }} tower {{ dims: 8 }} "
            "placement {{ kind: {kind} }} }}",
}


def with_model(path, model):
    text = open(path).read()
    start = text.index("  mmoe {")
    end = text.index("}\noptimizer")
    text = text[:start] + "  " + model + "\n" + text[end:]
    open(path, "w").write(text)


def expert_parallel(tmp):
    for name, template in EXPERT_MODELS.items():
        for workers, servers, kind in ((1, 0, "CONTIGUOUS"), (2, 1, "CONTIGUOUS"),
                                       (4, 1, "ROUND_ROBIN")):
            runs = {}
            for placement in ("REPLICATED", kind):
                config = write_config(tmp, f"{name}_{workers}_{placement}", batch=64,
                                      split="FILE_SHARES", epochs=1, sync="BSP")
                with_model(config, template.format(kind=placement))
                runs[placement] = train(config, os.path.join(tmp, f"{name}_{workers}_{placement}"),
                                        workers=workers, servers=servers)
            (ref_losses, ref_final), (losses, final) = runs["REPLICATED"], runs[kind]
            assert losses.keys() == ref_losses.keys() and len(losses) >= 5, (losses, ref_losses)
            for step, ref in ref_losses.items():
                assert abs(losses[step] - ref) <= 1e-5 * max(1.0, abs(ref)), (
                    name, workers, step, losses[step], ref)
            for key in ("mean_test_auc", "weighted_test_auc"):
                assert abs(final[key] - ref_final[key]) <= 1e-4, (name, workers, key, final[key],
                                                                ref_final[key])
            print(f"{name}, {workers} workers + {servers} servers, {kind}: {len(losses)} losses "
                  f"and the mean test AUC {final['mean_test_auc']:.6f} (replicated "
                  f"{ref_final['mean_test_auc']:.6f}) agree")


MATCHING = """
name: "matching-test"
data {{
  num_domains: 3 num_tasks: 1
  slots {{ name: "user_id" side: SIDE_USER }} slots {{ name: "user_group" side: SIDE_USER }}
  slots {{ name: "item_id" side: SIDE_ITEM }} slots {{ name: "item_category" side: SIDE_ITEM }}
  train: "{data}/train" validation: "{data}/validation" test: "{data}/test" items: "{data}/items"
  synthetic {{ num_samples: 16000 num_users: 400 latent_dim: 4 samples_per_shard: 4000 seed: 3
              tail_share: 0.05
              matching {{ num_items: 1500 negatives_per_positive: 1 item_categories: 16
                          user_groups: 16 }} }}
  reader {{ batch_size: {batch} worker_split: GLOBAL_BATCH_SLICES shuffle_buffer: 4096 }}
}}
embedding {{ dim: 8 optimizer {{ type: ADAGRAD learning_rate: 0.05 }} }}
model {{
  domain_embedding_dim: 4
  two_tower {{ {towers} temperature: 0.1 {distill} }}
}}
optimizer {{ type: ADAM learning_rate: 0.003 }}
train {{ epochs: 1 eval_every_steps: 0 log_every_steps: 5 seed: 9 threads: 1 restore_best: false
         retrieval {{ ks: 10 ks: 50 }} }}
"""

TOWERS = {
    "two_tower": ("user_tower {{ mlp {{ dims: 16 dims: 8 }} }} "
                  "item_tower {{ mlp {{ dims: 16 dims: 8 }} }}", ""),
    # SAP layers (a SAP-MMoE student is not in this test: with its scenario batch norm
    # synchronised over the workers, 2 workers still drift from one process by up to 1e-2 of the
    # loss over 40 steps, a discrepancy not explained yet; STAR's synchronised norm holds 2e-4).
    "dsmoe": ("user_tower {{ mlp {{ dims: 16 dims: 8 activation: ACT_PRELU }} sap {{ rank: 2 }} }} "
              "item_tower {{ mlp {{ dims: 16 dims: 8 }} }}",
              "distill {{ teacher {{ domain_embedding_dim: 4 mmoe {{ num_experts: 2 expert {{ "
              "dims: 16 }} tower {{ dims: 8 }} gate_index: BY_DOMAIN tower_index: BY_DOMAIN }} }} "
              "list_size: 6 }}"),
}


def matching_bsp(tmp):
    for name, (towers, distill) in TOWERS.items():
        def config(tag, batch):
            path = os.path.join(tmp, f"{name}_{tag}.pbtxt")
            with open(path, "w") as f:
                f.write(MATCHING.format(data=os.path.join(tmp, "mdata"), batch=batch,
                                        towers=towers.format(), distill=distill.format()))
            return path
        ref_losses, ref_final = train(config("one", 128), os.path.join(tmp, name + "_one"))
        losses, final = train(config("two", 64), os.path.join(tmp, name + "_two"), workers=2,
                              servers=1)
        assert len(ref_losses) >= 5 and losses.keys() == ref_losses.keys(), (losses, ref_losses)
        for step, ref in ref_losses.items():
            assert abs(losses[step] - ref) <= 5e-4 * max(1.0, abs(ref)), (name, step,
                                                                        losses[step], ref)
        for key in ("test_recall@10", "test_recall@50", "test_recall@50/d2", "test_ndcg@50"):
            assert ref_final[key] > 0.0, (key, ref_final[key])
            assert abs(final[key] - ref_final[key]) <= 5e-3, (name, key, final[key], ref_final[key])
        print(f"{name}: {len(losses)} losses within 5e-4 and test recall@50 "
              f"{final['test_recall@50']:.4f} vs one process {ref_final['test_recall@50']:.4f}")


# The teacher alone: the same data and tables, the teacher of TOWERS["dsmoe"] as a ranking
# model trained pointwise on the labelled pairs, its final state a checkpoint.
TEACHER_MMOE = ("mmoe {{ num_experts: 2 expert {{ dims: 16 }} tower {{ dims: 8 }} "
                "gate_index: BY_DOMAIN tower_index: BY_DOMAIN }}")
TEACHER_MODEL = "domain_embedding_dim: 4 " + TEACHER_MMOE


def dense_entries(path):
    """{name: raw value bytes} of a dense.bin's parameter section (MRPSET01), read here."""
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data, 8)[0]
    params = data[16:16 + n]
    assert params[:8] == b"MRPSET01", path
    count = struct.unpack_from("<I", params, 8)[0]
    at, out = 12, {}
    for _ in range(count):
        length = struct.unpack_from("<I", params, at)[0]
        name = params[at + 4:at + 4 + length].decode()
        at += 4 + length
        rank = params[at + 1]
        dims = struct.unpack_from(f"<{rank}q", params, at + 2)
        at += 2 + 8 * rank
        size = 4 * math.prod(dims)
        out[name] = params[at:at + size]
        at += size
    return out


def teacher_ranks(tmp):
    data = os.path.join(tmp, "mdata")
    teacher_config = os.path.join(tmp, "teacher.pbtxt")
    with open(teacher_config, "w") as f:
        f.write(MATCHING.format(data=data, batch=128, towers="", distill="")
                .replace("two_tower {  temperature: 0.1  }", TEACHER_MMOE.format())
                .replace("retrieval { ks: 10 ks: 50 }", "")
                .replace("restore_best: false", "restore_best: true")
                + "checkpoint { every_minutes: 30 }\n")  # the best state is a checkpoint
    teacher_dir = os.path.join(tmp, "teacher")
    run(train_command(BUILD, teacher_config, teacher_dir))
    towers, _ = TOWERS["dsmoe"]
    def student(tag, placement, teachers):
        path = os.path.join(tmp, f"student_{tag}.pbtxt")
        distill = (f"distill {{{{ teacher {{{{ {TEACHER_MODEL} }}}} mode: OFFLINE "
                   f"teacher_run_dir: \"{teacher_dir}\" placement: {placement} list_size: 6 }}}}")
        with open(path, "w") as f:
            f.write(MATCHING.format(data=data, batch=64, towers=towers.format(),
                                    distill=distill.format())
                    .replace("restore_best: false", "restore_best: true")
                    + f"checkpoint {{ every_minutes: 30 }}\ncluster {{ num_teachers: {teachers} }}\n")
        run_dir = os.path.join(tmp, "student_" + tag)
        run(train_command(BUILD, path, run_dir, 2, 1, teachers))
        lines, losses, final = metrics(run_dir)
        loaded = [l for l in lines if l["event"] == "teacher"]
        assert len(loaded) == 1 and loaded[0]["placement"] == placement, loaded
        return run_dir, losses, final, loaded[0]["checkpoint"]
    ref_dir, ref_losses, ref_final, source = student("workers", "ON_WORKERS", 0)
    assert source.startswith(teacher_dir), source
    # The teacher's parameters are in the student, unchanged by its training.
    taught = dense_entries(os.path.join(source, "dense.bin"))
    checkpoints = os.path.join(ref_dir, "checkpoints")
    final_ckpt = sorted(os.listdir(checkpoints))[-1]
    held = dense_entries(os.path.join(checkpoints, final_ckpt, "dense.bin"))
    assert taught and all(held["teacher." + k] == v for k, v in taught.items()), \
        sorted(k for k, v in taught.items() if held.get("teacher." + k) != v)
    assert len(ref_losses) >= 5
    for teachers in (1, 2):
        _, losses, final, used = student(f"ranks{teachers}", "TEACHER_RANKS", teachers)
        assert used == source, (used, source)
        assert losses.keys() == ref_losses.keys(), (losses, ref_losses)
        for step, ref in ref_losses.items():
            assert abs(losses[step] - ref) <= 1e-6 * max(1.0, abs(ref)), (teachers, step,
                                                                        losses[step], ref)
        for key in ("test_recall@10", "test_recall@50", "test_ndcg@50"):
            assert final[key] == ref_final[key], (teachers, key, final[key], ref_final[key])
        print(f"{teachers} teacher rank(s): {len(losses)} losses equal to the teacher on the "
              f"workers, test recall@50 {final['test_recall@50']:.4f}")
    print(f"the student holds the teacher's {len(taught)} parameters of {source} bit for bit")


def export_serving(tmp):
    towers, _ = TOWERS["two_tower"]
    path = os.path.join(tmp, "export.pbtxt")
    with open(path, "w") as f:
        f.write(MATCHING.format(data=os.path.join(tmp, "mdata"), batch=64, towers=towers.format(),
                                distill="").replace("restore_best: false", "restore_best: true")
                + "checkpoint { every_minutes: 30 }\n")  # the best state is a checkpoint
    run_dir = os.path.join(tmp, "run")
    run(train_command(BUILD, path, run_dir, 2, 1))
    _, _, final = metrics(run_dir)
    figures = {}
    for kind in ("flat", "ivfpq"):
        out = os.path.join(tmp, "export_" + kind)
        text = run([moerec(BUILD), "export", f"--config={path}", f"--run_dir={run_dir}",
                    f"--out={out}", f"--index_kind={kind}", "--nlist=16", "--nprobe=4"])
        figures[kind] = dict(l.split("=", 1) for l in text.splitlines()
                             if "=" in l and not l.startswith(("I20", "W20", "WARNING")))
    for key in ("recall@10", "recall@50", "recall@50/d0", "ndcg@50"):
        exact = float(figures["flat"]["exact_" + key])
        assert abs(exact - final["test_" + key]) <= 2e-3, (key, exact, final["test_" + key])
        assert abs(float(figures["flat"]["index_" + key]) - exact) <= 2e-3, (key, figures["flat"])
        assert abs(float(figures["ivfpq"]["index_" + key]) - exact) <= 0.15, (key, figures["ivfpq"])
    users = int(figures["flat"]["export_users"])
    tsv = os.path.join(tmp, "top.tsv")
    run([moerec(BUILD), "retrieve", f"--index={tmp}/export_flat/items.index",
         f"--users={tmp}/export_flat/users.emb", "--k=10", f"--out={tsv}"])
    lines = open(tsv).read().splitlines()
    assert len(lines) == users and all(len(l.split("\t")[2].split(",")) == 10 for l in lines), \
        (len(lines), users)
    print(f"exported {users} users: exact recall@50 {figures['flat']['exact_recall@50']} (training "
          f"{final['test_recall@50']:.4f}), flat index {figures['flat']['index_recall@50']}, "
          f"IVF-PQ {figures['ivfpq']['index_recall@50']}")


def bench_moe(tmp):
    for ranks in (2, 3):
        out = run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks),
                   moerec(BUILD), "bench", "moe", "--experts=8", "--top_k=2", "--batch=256",
                   "--steps=3"])
        fig = dict(l.split("=", 1) for l in out.splitlines() if "=" in l and " " not in l)
        fig = {k: float(v) for k, v in fig.items()}
        assert fig["workers"] == ranks, fig
        # The largest rank holds ceil(8 / W) of the 8 experts.
        assert abs(fig["expert_bytes_per_rank_ratio"] - (-(-8 // ranks)) / 8) < 1e-9, fig
        assert 1.0 <= fig["dispatch_bytes_ratio"] <= 1.05, fig
        assert 0 < fig["active_experts_per_sample"] <= 2, fig
        assert fig["ep_step_ms"] > 0 and fig["replicated_step_ms"] > 0, fig
        print(f"{ranks} ranks: expert bytes ratio {fig['expert_bytes_per_rank_ratio']}, "
              f"dispatch bytes ratio {fig['dispatch_bytes_ratio']}, "
              f"ep/replicated step {fig['ep_step_time_ratio']:.2f}")


if __name__ == "__main__":
    main({"bsp_equivalence": bsp_equivalence, "async_modes": async_modes,
          "expert_parallel": expert_parallel, "bench_moe": bench_moe,
          "matching_bsp": matching_bsp, "export_serving": export_serving,
          "teacher_ranks": teacher_ranks}, "moerec-dist-")
