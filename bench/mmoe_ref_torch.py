#!/usr/bin/python3
"""PyTorch side of the `mmoe-ref` and `m3oe` reference benchmarks (DESIGN.md section 8).
--model m3oe: M3oE on the same inputs (class M3oeRef); the default is the MMoE below.

Full training steps of the reference MMoE on CPU, eager mode:
  16 sparse slots x 100k ids, one id per slot per sample, sum pooling, dim 16, sparse
  gradients, Adagrad (lr 0.05) on the embedding rows;
  a dense domain embedding (3 domains, dim 16) -> input 272;
  8 experts 272 -> 256 -> 128, ReLU after both layers;
  2 tasks, each a softmax gate Linear(272, 8) over the experts, tower 128 -> 64 ReLU -> 1;
  BCE-with-logits on random 0/1 labels; Adam (lr 1e-3) on every dense parameter; batch 1024.

Written the fastest honest way for eager PyTorch, so the side-by-side is fair to it:
  * the experts' first layers are ONE Linear(272, 8 * 256) (they share their input), their
    second layers one batched matmul (torch.baddbmm) over a (8, 256, 128) weight;
  * both tasks' gates are ONE Linear(272, 2 * 8), softmaxed per task; the gate-weighted sum of
    experts is one torch.bmm;
  * the two towers are batched matmuls over stacked (2, ., .) weights;
  * Adam runs with foreach=True (multi-tensor) when it helps.
  Each of these is the same arithmetic as the per-expert / per-task modules.
  --tables per_slot (default) keeps one sparse table per slot, as the workload states; --tables
  fused puts the 16 tables in one 1.6M-row table with per-slot row offsets (identical math: the
  Adagrad update is per row), which saves 15 kernel launches and optimizer calls per step.
  --pooling bag uses nn.EmbeddingBag(mode="sum") (general pooling); --pooling lookup uses
  nn.Embedding, equal to sum pooling with exactly one id per slot.

torch.compile needs torch >= 2; with an older torch --compile is refused.
--device cuda runs the same steps on the GPU (model, tables, optimizers and the batch pool in
device memory); timing then synchronises the device once before the first and after the last
timed step, so the steps pipeline as a training loop's do.

Usage: /usr/bin/python3 bench/mmoe_ref_torch.py --threads N --steps S --warmup W
Prints key=value lines; the last is samples_per_sec=<number>, which is total samples over the
total wall time of the timed steps (median_samples_per_sec, printed before it, is the median of
the per-step rates).
"""

import argparse
import os
import statistics
import sys
import time


def _pin_library_threads():
    """Debian's torch does its GEMMs in the system OpenBLAS (pthread build), which starts one
    thread per core whatever torch.set_num_threads says. Its thread count is read when the
    library loads, so --threads must reach the environment before torch is imported."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    threads = str(pre.parse_known_args(sys.argv[1:])[0].threads)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads


_pin_library_threads()

import torch  # noqa: E402  (after the thread pinning above)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

NUM_SLOTS = 16
IDS_PER_SLOT = 100_000
EMB_DIM = 16
NUM_DOMAINS = 3
INPUT_DIM = NUM_SLOTS * EMB_DIM + EMB_DIM  # 272
NUM_EXPERTS = 8
EXPERT_HIDDEN = 256
EXPERT_OUT = 128
NUM_TASKS = 2
TOWER_HIDDEN = 64


class SparseEmbeddings(nn.Module):
    """The 16 slots: (B, 16) ids -> (B, 16 * 16) pooled embeddings."""

    def __init__(self, tables: str, pooling: str):
        super().__init__()
        self.tables = tables
        self.pooling = pooling

        def make(rows):
            if pooling == "bag":
                return nn.EmbeddingBag(rows, EMB_DIM, mode="sum", sparse=True)
            return nn.Embedding(rows, EMB_DIM, sparse=True)

        if tables == "fused":
            self.table = make(NUM_SLOTS * IDS_PER_SLOT)
            self.register_buffer(
                "slot_offset", torch.arange(NUM_SLOTS, dtype=torch.int64) * IDS_PER_SLOT)
        else:
            self.slots = nn.ModuleList(make(IDS_PER_SLOT) for _ in range(NUM_SLOTS))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # ids: (B, S) int64
        batch = ids.shape[0]
        if self.tables == "fused":
            rows = (ids + self.slot_offset).reshape(-1)  # (B * S), sample-major
            if self.pooling == "bag":
                # One bag per (sample, slot), each of one id.
                offsets = torch.arange(rows.numel(), dtype=torch.int64)
                return self.table(rows, offsets).reshape(batch, NUM_SLOTS * EMB_DIM)
            return self.table(rows).reshape(batch, NUM_SLOTS * EMB_DIM)
        outs = []
        for s, table in enumerate(self.slots):
            col = ids[:, s].contiguous()
            if self.pooling == "bag":
                outs.append(table(col, self.bag_offsets(batch)))
            else:
                outs.append(table(col))
        return torch.cat(outs, dim=1)

    def bag_offsets(self, batch: int) -> torch.Tensor:
        if getattr(self, "_offsets", None) is None or self._offsets.numel() != batch:
            self._offsets = torch.arange(batch, dtype=torch.int64)
        return self._offsets


class MmoeRef(nn.Module):
    def __init__(self, tables: str, pooling: str):
        super().__init__()
        self.sparse = SparseEmbeddings(tables, pooling)
        self.domain = nn.Embedding(NUM_DOMAINS, EMB_DIM)  # dense gradient, Adam
        # Experts, layer 1: one Linear for all 8 (shared input). Layer 2: (E, 256, 128).
        self.expert1 = nn.Linear(INPUT_DIM, NUM_EXPERTS * EXPERT_HIDDEN)
        self.expert2_w = nn.Parameter(torch.empty(NUM_EXPERTS, EXPERT_HIDDEN, EXPERT_OUT))
        self.expert2_b = nn.Parameter(torch.empty(NUM_EXPERTS, 1, EXPERT_OUT))
        # Gates of both tasks in one Linear: (B, T * E).
        self.gates = nn.Linear(INPUT_DIM, NUM_TASKS * NUM_EXPERTS)
        # Towers, stacked over tasks.
        self.tower1_w = nn.Parameter(torch.empty(NUM_TASKS, EXPERT_OUT, TOWER_HIDDEN))
        self.tower1_b = nn.Parameter(torch.empty(NUM_TASKS, 1, TOWER_HIDDEN))
        self.tower2_w = nn.Parameter(torch.empty(NUM_TASKS, TOWER_HIDDEN, 1))
        self.tower2_b = nn.Parameter(torch.empty(NUM_TASKS, 1, 1))
        for w, b, fan_in in ((self.expert2_w, self.expert2_b, EXPERT_HIDDEN),
                             (self.tower1_w, self.tower1_b, EXPERT_OUT),
                             (self.tower2_w, self.tower2_b, TOWER_HIDDEN)):
            bound = 1.0 / fan_in**0.5  # nn.Linear's default init
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, ids, domain):  # ids: (B, S), domain: (B,) -> logits (B, T)
        batch = ids.shape[0]
        x = torch.cat([self.sparse(ids), self.domain(domain)], dim=1)  # (B, 272)
        h = F.relu(self.expert1(x))  # (B, E * 256)
        h = h.view(batch, NUM_EXPERTS, EXPERT_HIDDEN).transpose(0, 1)  # (E, B, 256)
        e = F.relu(torch.baddbmm(self.expert2_b, h, self.expert2_w))  # (E, B, 128)
        g = F.softmax(self.gates(x).view(batch, NUM_TASKS, NUM_EXPERTS), dim=-1)  # (B, T, E)
        mixed = torch.bmm(g, e.transpose(0, 1))  # (B, T, 128)
        t = mixed.transpose(0, 1)  # (T, B, 128)
        t = F.relu(torch.baddbmm(self.tower1_b, t, self.tower1_w))  # (T, B, 64)
        logits = torch.baddbmm(self.tower2_b, t, self.tower2_w)  # (T, B, 1)
        return logits.squeeze(-1).transpose(0, 1)  # (B, T)


STAR_DIM = 128
REP_DIM = 256
M3OE_SHARED = 4
M3OE_OUT = 128


class M3oeRef(nn.Module):
    """M3oE on the same inputs (docs/models.md): star layer, rep + skip MLP_N, 4 shared + 3
    domain + 2 task experts (one MLP_N layer each, all nine in one Linear), (domain, task) gates
    on h.detach(), the two-level fusion with sigmoid scalars, a tower per (domain, task).
    Per-domain parts loop over the 3 domains with index_select / index_copy (the samples of a
    domain in one matmul, as moerec's domain-sorted row blocks). The four fusion logits get a
    gradient but no optimizer (AUTOML steps them on held-out batches, not timed)."""

    def __init__(self, tables: str, pooling: str):
        super().__init__()
        self.sparse = SparseEmbeddings(tables, pooling)
        self.domain = nn.Embedding(NUM_DOMAINS, EMB_DIM)
        self.star_w = nn.Parameter(torch.empty(INPUT_DIM, STAR_DIM))
        self.star_b = nn.Parameter(torch.empty(STAR_DIM))
        self.star_dw = nn.Parameter(torch.ones(NUM_DOMAINS, INPUT_DIM, STAR_DIM))
        self.star_db = nn.Parameter(torch.zeros(NUM_DOMAINS, STAR_DIM))
        bound = 1.0 / INPUT_DIM**0.5
        nn.init.uniform_(self.star_w, -bound, bound)
        nn.init.uniform_(self.star_b, -bound, bound)
        self.rep = nn.Linear(STAR_DIM, REP_DIM)
        self.rep_ln = nn.LayerNorm(REP_DIM)
        self.skip = nn.Linear(INPUT_DIM, REP_DIM)
        self.skip_ln = nn.LayerNorm(REP_DIM)
        self.num_experts = M3OE_SHARED + NUM_DOMAINS + NUM_TASKS
        self.experts = nn.Linear(REP_DIM, self.num_experts * M3OE_OUT)
        self.expert_gamma = nn.Parameter(torch.ones(self.num_experts, M3OE_OUT))
        self.expert_beta = nn.Parameter(torch.zeros(self.num_experts, M3OE_OUT))
        self.gates = nn.Parameter(torch.empty(NUM_DOMAINS, REP_DIM, NUM_TASKS * M3OE_SHARED))
        nn.init.uniform_(self.gates, -1.0 / REP_DIM**0.5, 1.0 / REP_DIM**0.5)
        self.theta = nn.Parameter(torch.ones(4))  # alpha_d, alpha_t, beta_d, beta_t
        heads = NUM_DOMAINS
        self.tower1_w = nn.Parameter(torch.empty(heads, NUM_TASKS, M3OE_OUT, TOWER_HIDDEN))
        self.tower1_b = nn.Parameter(torch.empty(heads, NUM_TASKS, 1, TOWER_HIDDEN))
        self.tower_gamma = nn.Parameter(torch.ones(heads, NUM_TASKS, 1, TOWER_HIDDEN))
        self.tower_beta = nn.Parameter(torch.zeros(heads, NUM_TASKS, 1, TOWER_HIDDEN))
        self.tower2_w = nn.Parameter(torch.empty(heads, NUM_TASKS, TOWER_HIDDEN, 1))
        self.tower2_b = nn.Parameter(torch.empty(heads, NUM_TASKS, 1, 1))
        for w, b, fan_in in ((self.tower1_w, self.tower1_b, M3OE_OUT),
                             (self.tower2_w, self.tower2_b, TOWER_HIDDEN)):
            bound = 1.0 / fan_in**0.5
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, ids, domain):
        batch = ids.shape[0]
        x = torch.cat([self.sparse(ids), self.domain(domain)], dim=1)  # (B, 272)
        rows = [(domain == d).nonzero().squeeze(1) for d in range(NUM_DOMAINS)]
        u = x.new_empty(batch, STAR_DIM)
        for d, idx in enumerate(rows):
            w = self.star_w * self.star_dw[d]
            u = u.index_copy(0, idx, torch.addmm(self.star_b + self.star_db[d], x[idx], w))
        h = F.relu(self.rep_ln(self.rep(u))) + F.relu(self.skip_ln(self.skip(x)))  # (B, 256)
        e = self.experts(h).view(batch, self.num_experts, M3OE_OUT)
        e = F.relu(F.layer_norm(e, (M3OE_OUT,)) * self.expert_gamma + self.expert_beta)
        shared = e[:, :M3OE_SHARED]                                   # (B, N, H)
        dom = e[:, M3OE_SHARED:M3OE_SHARED + NUM_DOMAINS]             # (B, D, H)
        tsk = e[:, M3OE_SHARED + NUM_DOMAINS:]                        # (B, T, H)
        hd = h.detach()
        g = x.new_empty(batch, NUM_TASKS * M3OE_SHARED)
        for d, idx in enumerate(rows):
            g = g.index_copy(0, idx, hd[idx] @ self.gates[d])
        g = F.softmax(g.view(batch, NUM_TASKS, M3OE_SHARED), dim=-1)
        s = torch.bmm(g, shared)                                      # (B, T, H)
        a_d, a_t, b_d, b_t = torch.sigmoid(self.theta)
        own_d = dom[torch.arange(batch), domain]                      # (B, H)
        dom_f = b_d * own_d + (1 - b_d) / (NUM_DOMAINS - 1) * (dom.sum(1) - own_d)
        tsk_f = b_t * tsk + (1 - b_t) / (NUM_TASKS - 1) * (tsk.sum(1, keepdim=True) - tsk)
        z = s + a_d * dom_f.unsqueeze(1) + a_t * tsk_f                # (B, T, H)
        logits = x.new_empty(batch, NUM_TASKS)
        for d, idx in enumerate(rows):
            t = z[idx].transpose(0, 1)                                # (T, n, H)
            t = torch.baddbmm(self.tower1_b[d], t, self.tower1_w[d])  # (T, n, 64)
            t = F.layer_norm(t, (TOWER_HIDDEN,)) * self.tower_gamma[d] + self.tower_beta[d]
            t = torch.baddbmm(self.tower2_b[d], F.relu(t), self.tower2_w[d])  # (T, n, 1)
            logits = logits.index_copy(0, idx, t.squeeze(-1).transpose(0, 1))
        return logits


def make_pool(num_batches, batch_size, generator):
    pool = []
    for _ in range(num_batches):
        ids = torch.randint(0, IDS_PER_SLOT, (batch_size, NUM_SLOTS), generator=generator)
        domain = torch.randint(0, NUM_DOMAINS, (batch_size,), generator=generator)
        labels = torch.randint(0, 2, (batch_size, NUM_TASKS), generator=generator).float()
        pool.append((ids, domain, labels))
    return pool


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--pool", type=int, default=50, help="distinct random batches")
    parser.add_argument("--tables", choices=("per_slot", "fused"), default="per_slot")
    parser.add_argument("--pooling", choices=("bag", "lookup"), default="bag")
    parser.add_argument("--adam-foreach", choices=("on", "off"), default="on")
    parser.add_argument("--compile", action="store_true", help="torch.compile (torch >= 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("mmoe", "m3oe"), default="mmoe")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU (torch.cuda.is_available() is False)")
    device = torch.device(args.device)

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    model = (M3oeRef if args.model == "m3oe" else MmoeRef)(args.tables, args.pooling).to(device)
    sparse_params = list(model.sparse.parameters())
    # M3oE's fusion logits are architecture parameters: not the main optimizer's.
    skip = {id(p) for p in sparse_params} | {id(getattr(model, "theta", sparse_params[0]))}
    dense_params = [p for p in model.parameters() if id(p) not in skip]
    adagrad = torch.optim.Adagrad(sparse_params, lr=0.05)
    adam = torch.optim.Adam(dense_params, lr=1e-3, foreach=args.adam_foreach == "on")

    forward = model
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"--compile needs torch >= 2; this is torch {torch.__version__}")
        forward = torch.compile(model)

    pool = make_pool(args.pool, args.batch, torch.Generator().manual_seed(args.seed + 1))
    pool = [tuple(t.to(device) for t in batch) for batch in pool]

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def step(i):
        ids, domain, labels = pool[i % len(pool)]
        adagrad.zero_grad(set_to_none=True)
        adam.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(forward(ids, domain), labels)
        loss.backward()
        adagrad.step()
        adam.step()
        return loss

    for i in range(args.warmup):
        step(i)
    rates = []
    loss = None
    sync()
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = step(i)
        if args.device == "cpu":
            rates.append(args.batch / (time.perf_counter() - t0))
    sync()
    total = time.perf_counter() - start
    if not rates:  # on the GPU a step's host time is not its duration: only the total counts
        rates = [args.batch * args.steps / total]

    print(f"model={args.model}")
    print(f"device={torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}")
    print(f"torch={torch.__version__}")
    print(f"threads={args.threads}")
    print(f"openblas_threads={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"steps={args.steps}")
    print(f"warmup={args.warmup}")
    print(f"batch={args.batch}")
    print(f"tables={args.tables}")
    print(f"pooling={args.pooling}")
    print(f"compile={int(args.compile)}")
    print(f"final_loss={loss.item():.5f}")
    print(f"ms_per_step={1000 * total / args.steps:.3f}")
    print(f"median_samples_per_sec={statistics.median(rates):.1f}")
    # Total samples over total wall time of the timed steps.
    print(f"samples_per_sec={args.batch * args.steps / total:.1f}")


if __name__ == "__main__":
    main()
