#!/usr/bin/env python3
"""PyTorch baseline for the chip-embedding benchmark (CPU, or CUDA with ``--device cuda``).

What it does
    Loads the shipped weights (``weights/*.safetensors``, every tensor cast to float32, into
    torchvision ``resnet50`` / ``mobilenet_v2``, eval mode), builds ``--chips`` preprocessed chips
    from the real STEM image (HyperSpy test data ``dm3_2D_data/multi_signal.dm3``): the first N
    chips of the ``--chip-size`` grid in row-major order, preprocessed exactly as in
    ``reference.py`` (display range of the whole image, scale, antialiased bilinear resize to
    224x224, 3 channels, ImageNet normalisation). Then, per encoder, it runs one warm-up batch and
    embeds all chips in batches of ``--batch`` under ``torch.no_grad()`` and
    ``torch.inference_mode()``, computing the pooled features (2048-d / 1280-d).

    Only the forward passes are timed: loading the image and the weights, preprocessing the
    chips and the warm-up batch are excluded.

Run (from the repository root)
    ~/.cache/chipscope/py/venv/bin/python scripts/weights/bench_torch.py \
        [--encoder resnet50|mobilenet_v2|all] [--chips 64] [--chip-size 64] [--batch 16] [--threads T]
        [--device cpu|cuda]

    On CUDA the chips and the model are moved to the GPU before timing and the clock stops after
    ``torch.cuda.synchronize()``, so the figure is the GPU's work, not the launch queue's.

Outputs
    stdout: one JSON line per encoder,
        {"impl": "pytorch", "encoder": ..., "chips": ..., "seconds": ..., "chips_per_s": ...,
         "threads": ..., "batch": ..., "chip_size": ..., "torch": ..., "device": ...}
    stderr: human-readable details (image, versions, per-encoder timing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref  # noqa: E402  (chip preprocessing, model loading, pooled features)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", choices=["resnet50", "mobilenet_v2", "all"], default="all")
    ap.add_argument("--chips", type=int, default=64, help="number of chips to embed (default 64)")
    ap.add_argument("--chip-size", type=int, default=64, help="chip size in pixels (default 64)")
    ap.add_argument("--batch", type=int, default=16, help="chips per forward pass (default 16)")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where PyTorch runs (default cpu)")
    ap.add_argument("--weights", type=Path, default=ref.REPO_ROOT / "weights", help="folder with the shipped *.safetensors")
    ap.add_argument("--testdata", type=Path, default=ref.default_testdata_dir(), help="HyperSpy test-data folder")
    args = ap.parse_args()
    if args.chips < 1 or args.batch < 1 or args.chip_size < 1:
        ap.error("--chips, --batch and --chip-size must be positive")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    img = ref.load_stem_image(args.testdata / ref.SOURCE_REL)
    lo, hi = ref.display_range(img)
    rows, cols = ref.chip_grid(img, args.chip_size)
    if args.chips > rows * cols:
        sys.exit(f"error: --chips {args.chips} exceeds the {rows}x{cols} grid of {args.chip_size}-px chips")
    chips = torch.stack([ref.normalise(ref.resized_chip(ref.chip_at(img, args.chip_size, i)[0], lo, hi))
                         for i in range(args.chips)]).contiguous()
    device = torch.device(args.device)
    chips = chips.to(device)
    batches = list(torch.split(chips, args.batch))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.chips} chips of "
          f"{args.chip_size} px ({rows}x{cols} grid, lo={lo} hi={hi}), batches of {args.batch}", file=sys.stderr)

    encoders = list(ref.ENCODERS) if args.encoder == "all" else [args.encoder]
    for encoder in encoders:
        model = ref.load_shipped(args.weights, encoder).to(device)
        with torch.no_grad(), torch.inference_mode():
            ref.pooled_features(encoder, model, chips[:args.batch])  # warm-up, not timed
            synchronize(device)
            start, cpu_start = time.perf_counter(), time.process_time()
            outs = [ref.pooled_features(encoder, model, b) for b in batches]
            synchronize(device)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
        emb = torch.cat(outs)
        assert emb.shape == (args.chips, ref.ENCODERS[encoder][2]) and torch.isfinite(emb).all()
        rec = {
            "impl": "pytorch",
            "encoder": encoder,
            "chips": args.chips,
            "seconds": round(seconds, 4),
            "chips_per_s": round(args.chips / seconds, 3),
            "threads": torch.get_num_threads(),
            "batch": args.batch,
            "chip_size": args.chip_size,
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        }
        print(f"{encoder}: {args.chips} chips in {seconds:.3f} s = {args.chips / seconds:.2f} chips/s "
              f"({seconds / args.chips * 1000:.1f} ms/chip, {torch.get_num_threads()} threads, "
              f"process CPU {cpu_seconds:.3f} s)", file=sys.stderr)
        print(json.dumps(rec), flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
