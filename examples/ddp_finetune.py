"""Go on training an exported attncore model with PyTorch's DistributedDataParallel.

attncore trains on one machine; for more machines (or a GPU) export the model
and let PyTorch do the rest:

    attncore export --format torch params.npz model.pt
    torchrun --standalone --nproc-per-node 2 examples/ddp_finetune.py model.pt batches.npz tuned.pt
    attncore import torch tuned.pt --out tuned.npz

``batches.npz`` holds ``xs`` (B*steps, T) and ``ts`` (B*steps, Td+1) token ids
in the model's vocabulary (attncore's data loaders give them: ``x, t`` of
``attncore.datasets.sequence.load_data`` or ``load_parallel``). Each step
takes the next ``--batch-size`` rows; each of the W processes takes its
contiguous share of them, so W processes take the same steps as one process
on the whole batch. The loss is attncore's: the mean cross entropy of the
next token over the whole batch; where the model has a ``pad_id``, the
padding is left out of it and the sources' trailing pads out of attention. Gloo on CPUs; ``--backend nccl`` with
CUDA devices.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from attncore.interop.torch_files import from_torch, load_torch, save_torch
from attncore.interop.torch_seq2seq import to_torch
from attncore.util import source_lengths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a file of 'attncore export --format torch'")
    p.add_argument("batches", help=".npz with xs and ts (token ids)")
    p.add_argument("out", help="the trained model (read it back with 'attncore import torch')")
    p.add_argument("--batch-size", type=int, default=32, help="rows per step, over all processes")
    p.add_argument("--steps", type=int, default=None, help="default: every whole batch once")
    p.add_argument("--lr", type=float, default=0.1, help="SGD's learning rate")
    p.add_argument("--backend", default="gloo")
    args = p.parse_args()

    dist.init_process_group(args.backend)  # torchrun sets RANK, WORLD_SIZE and the rendezvous
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must split evenly over {world} processes")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = load_torch(args.model)
    pad_id = model.metadata.get("pad_id")
    module = DistributedDataParallel(to_torch(model).train())  # dropout, if the model has it, trains
    optimizer = torch.optim.SGD(module.parameters(), lr=args.lr)
    with np.load(args.batches) as data:
        xs, ts = torch.from_numpy(data["xs"]).long(), torch.from_numpy(data["ts"]).long()
    steps = args.steps if args.steps is not None else len(xs) // args.batch_size
    share = args.batch_size // world
    for step in range(steps):
        rows = slice(step * args.batch_size + rank * share, step * args.batch_size + (rank + 1) * share)
        x, t = xs[rows], ts[rows]
        lengths = None if pad_id is None else torch.from_numpy(source_lengths(x.numpy(), pad_id))
        scores = module(x, t[:, :-1], lengths)
        labels = t[:, 1:].reshape(-1)
        # the mean over the whole batch's real tokens: the shares may hold different numbers of them,
        # and DDP averages the W gradients, so each share's sum is scaled by W / (the batch's count)
        real = labels.numel() if pad_id is None else (labels != pad_id).sum()
        count = torch.as_tensor(real, dtype=torch.float64)
        dist.all_reduce(count)
        loss = F.cross_entropy(
            scores.reshape(-1, scores.shape[-1]),
            labels,
            reduction="sum",
            ignore_index=-100 if pad_id is None else pad_id,
        ) * (world / count.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if rank == 0:
            print(f"step {step + 1}/{steps}: loss {loss.item() / world:.6f} (rank 0's share)")
    if rank == 0:
        tuned = from_torch(module.module, model.config)
        tuned.metadata = model.metadata
        save_torch(tuned, args.out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
