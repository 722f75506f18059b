#!/usr/bin/env python3
"""End-to-end distributed training through the moerec binary and real mpirun ranks.

  bsp_equivalence   W workers in BSP (GLOBAL_BATCH_SLICES) with 1 and 2 servers, and with
                    workers and servers interleaved over two "nodes", give the losses and
                    final AUC of one process with the same global batch.
  async_modes       ASP and SSP (staleness 2) end within 0.01 mean test AUC of BSP.

Usage: distributed_training_test.py BUILD_DIR CASE
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_job import main, metrics, run, train_command  # noqa: E402

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


def async_modes(tmp):
    results = {}
    for sync in ("BSP", "ASP", "SSP"):
        config = write_config(tmp, sync, batch=64, split="FILE_SHARES", epochs=2, sync=sync)
        _, final = train(config, os.path.join(tmp, sync), workers=2, servers=1)
        results[sync] = final["mean_test_auc"]
    print("mean test AUC:", results)
    for sync in ("ASP", "SSP"):
        assert abs(results[sync] - results["BSP"]) <= 0.01, (sync, results)


if __name__ == "__main__":
    main({"bsp_equivalence": bsp_equivalence, "async_modes": async_modes}, "moerec-dist-")
