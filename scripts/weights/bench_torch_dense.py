#!/usr/bin/env python3
"""PyTorch CPU baseline for the dense-embedding benchmark (``chipscope-bench dense``).

What it does
    Loads the shipped weights (``weights/*.safetensors``, every tensor cast to float32, into
    torchvision ``resnet50`` / ``mobilenet_v2`` in eval mode, as ``reference.py`` does) and keeps
    the trunk up to a stage, as ``dense_reference.py`` maps stages to modules:
      ResNet ``layerK``        = conv1, bn1, relu, maxpool, layer1 .. layerK
      MobileNetV2 ``features.N`` = ``features[:N + 1]``
    Then, for each image size, it times raw image -> chip embeddings in one pass (no tiling):
      1. display range ``np.percentile(img.astype(np.float64), [0.5, 99.5])``, x = clip((img - lo)
         / (hi - lo), 0, 1) in float32;
      2. ``F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False,
         antialias=True)`` (nothing at s = 1), 3 channels, ImageNet mean/std (``reference.normalise``);
      3. the trunk over the whole enlarged image, float32, under ``torch.inference_mode()``;
      4. each chip the mean of the map cells it covers: ``F.avg_pool2d`` with a kernel of
         chip / (stride / s) cells over the chip grid (remainders cropped), chips row-major.
    This is the same work as Chipscope's dense mode (``crates/core/src/encoders/dense.rs``),
    which runs step 3 in overlapping windows instead of one pass. The median of ``--runs`` runs
    is reported (no separate warm-up: the first run is one of the runs, as in Rust).

    Input: the simulated images Chipscope times, written by ``chipscope-bench dense
    --save-images DIR`` as ``DIR/heterostructure_SIZE.npy``; without ``--images``, uniform random
    values of the same size (``"input": "random"``).

Run (from the repository root)
    ~/.cache/chipscope/py/venv/bin/python scripts/weights/bench_torch_dense.py \
        [--sizes 512,1024,2048] [--chip 32] [--encoders mobilenet_v2,resnet50] \
        [--stage ENCODER=STAGE]... [--scale ENCODER=S]... [--runs 3] [--images DIR] [--threads T]

Outputs
    stdout: one JSON line per (encoder, size), with the keys of ``chipscope-bench dense``'s
        dense lines: impl ("pytorch"), encoder, size, chip, stage, scale, chips, threads, mode
        ("dense"), seconds, chips_per_s, runs, all_seconds, prepare_s, map_s, pool_s, windows (1),
        map_shape, map_mb, plus torch (version) and input.
    stderr: human-readable details.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref  # noqa: E402  (model loading, normalisation)

# The core's DenseSettings::recommended (crates/core/src/encoders/dense.rs); the bench script
# passes the stages Chipscope used explicitly.
RECOMMENDED = {"resnet50": ("layer3", 2), "mobilenet_v2": ("features.6", 2)}


def trunk(encoder: str, model: torch.nn.Module, stage: str) -> torch.nn.Module:
    """The modules of ``model`` up to and including ``stage`` (torchvision names)."""
    if encoder == "resnet50":
        layers = ["layer1", "layer2", "layer3", "layer4"]
        if stage not in layers:
            sys.exit(f"error: {encoder} has no stage {stage} (one of {', '.join(layers)})")
        m = model
        parts = [m.conv1, m.bn1, m.relu, m.maxpool] + [getattr(m, name) for name in layers[: layers.index(stage) + 1]]
        return torch.nn.Sequential(*parts).eval()
    if encoder == "mobilenet_v2":
        index = int(stage.removeprefix("features.")) if stage.startswith("features.") else -1
        if not 0 <= index < len(model.features):
            sys.exit(f"error: {encoder} has no stage {stage} (features.0 .. features.{len(model.features) - 1})")
        return model.features[: index + 1].eval()
    raise ValueError(encoder)


def pairs(values: list[str], cast) -> dict:
    out = {}
    for value in values:
        encoder, sep, setting = value.partition("=")
        if not sep:
            sys.exit(f"error: expected ENCODER=VALUE, got {value!r}")
        out[encoder] = cast(setting)
    return out


def dense_run(trunk_module: torch.nn.Module, img: np.ndarray, scale: int, chip: int) -> dict:
    """One timed run, raw image -> chip embeddings; the stage timings, the map and the chips."""
    start = time.perf_counter()
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if hi32 <= lo32:
        x = np.zeros(img.shape, dtype=np.float32)
    else:
        x = np.clip((img.astype(np.float32) - lo32) / (hi32 - lo32), np.float32(0), np.float32(1))
    t = torch.from_numpy(np.ascontiguousarray(x))
    if scale != 1:
        t = F.interpolate(t[None, None], scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)[0, 0]
    batch = ref.normalise(t)[None].contiguous()
    prepared = time.perf_counter()
    fmap = trunk_module(batch)
    mapped = time.perf_counter()
    stride = batch.shape[-1] // fmap.shape[-1]
    cell_px = stride / scale
    cells = chip / cell_px
    if cells != int(cells):
        sys.exit(f"error: {chip}-px chips do not cover whole cells of {cell_px} px")
    cells = int(cells)
    rows, cols = img.shape[0] // chip, img.shape[1] // chip
    pooled = F.avg_pool2d(fmap[:, :, : rows * cells, : cols * cells], cells)
    chips = pooled[0].permute(1, 2, 0).reshape(rows * cols, fmap.shape[1]).contiguous()
    done = time.perf_counter()
    assert torch.isfinite(chips).all()
    return {
        "prepare_s": prepared - start,
        "map_s": mapped - prepared,
        "pool_s": done - mapped,
        "seconds": done - start,
        "map_shape": list(fmap.shape[1:]),
        "chips": rows * cols,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="512,1024,2048", help="image sides, comma-separated")
    ap.add_argument("--chip", type=int, default=32, help="chip side in pixels (default 32)")
    ap.add_argument("--encoders", default="mobilenet_v2,resnet50", help="comma-separated")
    ap.add_argument("--stage", action="append", default=[], metavar="ENCODER=STAGE")
    ap.add_argument("--scale", action="append", default=[], metavar="ENCODER=S")
    ap.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported (default 3)")
    ap.add_argument("--images", type=Path, help="folder of heterostructure_SIZE.npy (chipscope-bench dense --save-images)")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: the cores available)")
    ap.add_argument("--weights", type=Path, default=ref.REPO_ROOT / "weights", help="folder with the shipped *.safetensors")
    args = ap.parse_args()
    if args.runs < 1 or args.chip < 1:
        ap.error("--runs and --chip must be positive")
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    stages, scales = pairs(args.stage, str), pairs(args.scale, int)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)

    images = {}
    for size in sizes:
        path = args.images / f"heterostructure_{size}.npy" if args.images else None
        if path is not None and path.is_file():
            images[size] = (np.load(path), "heterostructure")
        else:
            if path is not None:
                print(f"{path} not found: timing uniform random values", file=sys.stderr)
            images[size] = (np.random.default_rng(1).random((size, size), dtype=np.float32), "random")
        assert images[size][0].shape == (size, size), f"{size}: shape {images[size][0].shape}"

    for encoder in [e for e in args.encoders.split(",") if e]:
        default_stage, default_scale = RECOMMENDED[encoder]
        stage, scale = stages.get(encoder, default_stage), scales.get(encoder, default_scale)
        module = trunk(encoder, ref.load_shipped(args.weights, encoder), stage)
        for size in sizes:
            img, source = images[size]
            with torch.inference_mode():
                runs = [dense_run(module, img, scale, args.chip) for _ in range(args.runs)]
            totals = [r["seconds"] for r in runs]
            seconds = statistics.median_high(totals)
            middle = runs[totals.index(seconds)]
            c, h, w = middle["map_shape"]
            rec = {
                "impl": "pytorch",
                "encoder": encoder,
                "size": size,
                "chip": args.chip,
                "stage": stage,
                "scale": scale,
                "chips": middle["chips"],
                "threads": torch.get_num_threads(),
                "mode": "dense",
                "seconds": round(seconds, 4),
                "chips_per_s": round(middle["chips"] / seconds, 4),
                "runs": args.runs,
                "all_seconds": [round(t, 4) for t in totals],
                "prepare_s": round(middle["prepare_s"], 4),
                "map_s": round(middle["map_s"], 4),
                "pool_s": round(middle["pool_s"], 4),
                "windows": 1,
                "map_shape": middle["map_shape"],
                "map_mb": round(c * h * w * 4 / 1e6, 1),
                "torch": torch.__version__,
                "input": source,
            }
            print(f"{encoder} {stage} x{scale}, {size}^2: {seconds:.3f} s (runs {', '.join(f'{t:.3f}' for t in totals)})",
                  file=sys.stderr)
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
