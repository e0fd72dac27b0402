#!/usr/bin/env python3
"""PyTorch reference features of torchvision ResNets filled with synthetic weights (test fixture).

Why
    ``encoder_parity.rs`` checks the shipped ResNet-50 and MobileNetV2 against PyTorch. The
    other layouts Chipscope accepts (ResNet-18/34 with basic blocks, ResNet-101/152, Wide
    ResNet-50-2) are checked by ``crates/core/tests/encoder_architectures.rs`` against this
    fixture, without downloading their weights: every tensor is filled from a formula that the
    Rust test reproduces bit for bit in f32.

What it does
    For torchvision ``resnet18``, ``resnet34``, ``resnet101``, ``resnet152`` and
    ``wide_resnet50_2`` (``weights=None``), fills every float tensor of the state dict except the
    classifier head (``fc.*``) with ``synthetic_values`` below, runs the model in eval mode
    (float32, CPU, ``torch.no_grad()``) on ``synthetic_input`` and records the pooled features
    (everything up to and including ``avgpool``, flattened). ``num_batches_tracked`` (an integer
    buffer, not read by Chipscope) is left alone and ``fc`` is unused.

The value formula (mirrored in ``encoder_architectures.rs``; all integer arithmetic is on
unsigned 32-bit integers, wrapping)
    Tensors are numbered k = 0, 1, ... in sorted key order (byte order of the names) over the
    float tensors without ``fc.*`` and ``num_batches_tracked``; element i is the i-th value in
    row-major order.

        h = (i * 0x9E3779B1) ^ ((k + 1) * 0x85EBCA77)
        h ^= h >> 16;  h *= 0x7FEB352D;  h ^= h >> 15;  h *= 0x846CA68B;  h ^= h >> 16
        u24 = h >> 8          (0 .. 2^24 - 1)
        q16 = h >> 16         (0 .. 2^16 - 1)

    conv weight, shape [out, in, kh, kw], fan_in = in * kh * kw:
        scale = float32(sqrt(CONV_GAIN / fan_in))     (division and sqrt in float64, one cast)
        w = float32(u24 / 2^24 - 0.5) * scale         (the first factor is exact; one f32 product)
    BatchNorm (exact in f32, no rounding at all):
        weight       = 0.75 + q16 / 2^17      in [0.75, 1.25)
        bias         = (q16 - 2^15) / 2^18    in [-0.125, 0.125)
        running_mean = (q16 - 2^15) / 2^18    in [-0.125, 0.125)
        running_var  = 0.5 + q16 / 2^16       in [0.5, 1.5)

    The input, float32 [2, 3, 64, 64], element i = ((b * 3 + c) * 64 + y) * 64 + x, is fine
    noise plus a coarse pattern of 8x8 cells (exact in f32):
        value = 2 * (u24(i, INPUT_FINE_K) / 2^24 - 0.5) + 2 * (u24(j, INPUT_COARSE_K) / 2^24 - 0.5)
        j = ((b * 3 + c) * 8 + y / 8) * 8 + x / 8          (integer division)

Run (from the repository root; about 30 s on two cores; ``--check`` prints the statistics only)
    ~/.cache/chipscope/py/venv/bin/python scripts/weights/synthetic_reference.py

Output: ``tests/fixtures/encoders/synthetic.json``
    formula constants, input shape, command and versions, and per architecture: torchvision
    constructor, expected Chipscope name, block type, blocks per layer, width per group, the
    embedding dim, the number of tensors and the sha256 of the layout (one line
    ``"{key} {d0}x{d1}x...\\n"`` per tensor in sorted key order) so the Rust test can check that
    the layout it generates is torchvision's, and per input row: ``sample_indices`` with the
    features there (the first 16 and 112 more spread over the row), the row sum, L2 norm and
    max. The pooled features follow a ReLU, so they are non-negative and the sum is the L1 norm.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = REPO_ROOT / "tests/fixtures/encoders/synthetic.json"

MASK = 0xFFFFFFFF
# var(w) = CONV_GAIN / (12 fan_in), a third of He initialisation: with BatchNorm's fixed
# statistics every residual block adds to its input, and at He's gain the features of ResNet-152
# grow geometrically (about 1e10); at 8 every architecture ends with O(1) features that still
# depend on the input (features of the two input rows differ by 5-19% of their maximum).
CONV_GAIN = 8.0
INPUT_SHAPE = (2, 3, 64, 64)
INPUT_CELL = 8
INPUT_FINE_K = 1_000_001
INPUT_COARSE_K = 1_000_002
SAMPLE_FIRST = 16
SAMPLE_SPREAD = 112

# (torchvision constructor, Chipscope's name, bottleneck, blocks per layer, width per group)
ARCHITECTURES = [
    ("resnet18", "ResNet-18", False, [2, 2, 2, 2], 64),
    ("resnet34", "ResNet-34", False, [3, 4, 6, 3], 64),
    ("resnet101", "ResNet-101", True, [3, 4, 23, 3], 64),
    ("resnet152", "ResNet-152", True, [3, 8, 36, 3], 64),
    ("wide_resnet50_2", "Wide ResNet-50-2", True, [3, 4, 6, 3], 128),
]


def hash32(index: np.ndarray, k: int) -> np.ndarray:
    """The formula's h for elements `index` (uint64 array) of tensor `k`, as uint64 < 2^32."""
    h = ((index * 0x9E3779B1) & MASK) ^ (((k + 1) * 0x85EBCA77) & MASK)
    h ^= h >> 16
    h = (h * 0x7FEB352D) & MASK
    h ^= h >> 15
    h = (h * 0x846CA68B) & MASK
    h ^= h >> 16
    return h


def unit(index: np.ndarray, k: int) -> np.ndarray:
    """u24 / 2^24 - 0.5 as float32 (exact)."""
    u24 = (hash32(index, k) >> 8).astype(np.float32)
    return u24 / np.float32(2**24) - np.float32(0.5)


def synthetic_values(key: str, shape: tuple[int, ...], k: int) -> np.ndarray:
    """The formula's float32 values of tensor `key` (number `k`), row-major, as `shape`."""
    count = math.prod(shape)
    index = np.arange(count, dtype=np.uint64)
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        scale = np.float32(math.sqrt(CONV_GAIN / fan_in))
        values = unit(index, k) * scale
    elif len(shape) == 1:
        q16 = (hash32(index, k) >> 16).astype(np.float32)
        if key.endswith(".weight"):
            values = np.float32(0.75) + q16 / np.float32(2**17)
        elif key.endswith(".bias") or key.endswith(".running_mean"):
            values = (q16 - np.float32(2**15)) / np.float32(2**18)
        elif key.endswith(".running_var"):
            values = np.float32(0.5) + q16 / np.float32(2**16)
        else:
            raise ValueError(f"no formula for {key}")
    else:
        raise ValueError(f"no formula for {key} {shape}")
    assert values.dtype == np.float32, key
    return values.reshape(shape)


def synthetic_input() -> np.ndarray:
    b, c, height, width = INPUT_SHAPE
    cells_y, cells_x = height // INPUT_CELL, width // INPUT_CELL
    fine = unit(np.arange(b * c * height * width, dtype=np.uint64), INPUT_FINE_K)
    coarse = unit(np.arange(b * c * cells_y * cells_x, dtype=np.uint64), INPUT_COARSE_K)
    fine = fine.reshape(INPUT_SHAPE)
    coarse = coarse.reshape(b, c, cells_y, cells_x)
    coarse = np.repeat(np.repeat(coarse, INPUT_CELL, axis=2), INPUT_CELL, axis=3)
    return (np.float32(2) * fine + np.float32(2) * coarse).astype(np.float32)


def synthetic_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The filled tensors in formula order: sorted float tensors without the head."""
    return sorted(
        key
        for key, tensor in state.items()
        if tensor.is_floating_point() and not key.startswith("fc.")
    )


def layout_digest(state: dict[str, torch.Tensor], keys: list[str]) -> str:
    text = "".join(f"{key} {'x'.join(str(d) for d in state[key].shape)}\n" for key in keys)
    return hashlib.sha256(text.encode()).hexdigest()


def sample_indices(dim: int) -> list[int]:
    """The first SAMPLE_FIRST features, then SAMPLE_SPREAD more spread over the rest."""
    step = (dim - SAMPLE_FIRST) // SAMPLE_SPREAD
    spread = [SAMPLE_FIRST + j * step + j % step for j in range(SAMPLE_SPREAD)]
    return list(range(SAMPLE_FIRST)) + spread


def pooled_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    return torch.flatten(model.avgpool(x), 1)


def f32(value) -> float:
    """A float32 as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(value)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="print statistics, write nothing")
    args = parser.parse_args()

    x = torch.from_numpy(synthetic_input())
    architectures = []
    for constructor, name, bottleneck, blocks, width_per_group in ARCHITECTURES:
        model = getattr(torchvision.models, constructor)(weights=None).eval()
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        assert [len(layer) for layer in layers] == blocks, constructor
        assert hasattr(model.layer1[0], "conv3") == bottleneck, constructor
        assert not bottleneck or model.layer1[0].conv1.out_channels == width_per_group, constructor
        state = model.state_dict()
        keys = synthetic_keys(state)
        filled = {
            key: torch.from_numpy(synthetic_values(key, tuple(state[key].shape), k))
            for k, key in enumerate(keys)
        }
        missing, unexpected = model.load_state_dict(filled, strict=False)
        assert not unexpected, unexpected
        assert all(key.startswith("fc.") or key.endswith("num_batches_tracked") for key in missing)
        with torch.no_grad():
            features = pooled_features(model, x)
        features = features.numpy().astype(np.float32)
        dim = features.shape[1]
        indices = sample_indices(dim)
        rows = []
        for row in features:
            rows.append({
                "sample": [f32(row[i]) for i in indices],
                "sum": float(row.astype(np.float64).sum()),
                "norm": float(np.sqrt((row.astype(np.float64) ** 2).sum())),
                "max": f32(row.max()),
            })
        difference = np.abs(features[0] - features[1]).max() / np.abs(features).max()
        print(
            f"{name}: {len(keys)} tensors, dim {dim}, row max {features.max(axis=1)}, "
            f"row mean {features.mean(axis=1)}, zeros {np.mean(features == 0):.3f}, "
            f"max|row0 - row1| / max {difference:.3f}"
        )
        architectures.append({
            "torchvision": constructor,
            "name": name,
            "bottleneck": bottleneck,
            "blocks": blocks,
            "width_per_group": width_per_group,
            "dim": dim,
            "tensors": len(keys),
            "layout_sha256": layout_digest(state, keys),
            "sample_indices": indices,
            "rows": rows,
        })
    if args.check:
        return

    fixture = {
        "description": (
            "PyTorch pooled features of torchvision ResNets whose tensors are filled with "
            "synthetic values; see scripts/weights/synthetic_reference.py for the formula."
        ),
        "formula": {
            "hash": "h = (i*0x9E3779B1) ^ ((k+1)*0x85EBCA77); h ^= h>>16; h *= 0x7FEB352D; "
                    "h ^= h>>15; h *= 0x846CA68B; h ^= h>>16 (u32, wrapping)",
            "k": "index in sorted key order over float tensors except fc.* and num_batches_tracked",
            "conv_gain": CONV_GAIN,
            "conv_weight": "f32(u24/2^24 - 0.5) * f32(sqrt(conv_gain / fan_in))",
            "bn_weight": "0.75 + q16/2^17",
            "bn_bias_and_running_mean": "(q16 - 2^15)/2^18",
            "bn_running_var": "0.5 + q16/2^16",
            "input": "2*(u24(i, input_fine_k)/2^24 - 0.5) + 2*(u24(j, input_coarse_k)/2^24 - 0.5), "
                     "j = ((b*3+c)*(H/cell) + y/cell)*(W/cell) + x/cell",
            "input_shape": list(INPUT_SHAPE),
            "input_cell": INPUT_CELL,
            "input_fine_k": INPUT_FINE_K,
            "input_coarse_k": INPUT_COARSE_K,
        },
        "compare": "relative error max|ours - ref| / max|ref| over the sampled features of each "
                   "row; sum and norm relative to the reference's",
        "command": "~/.cache/chipscope/py/venv/bin/python scripts/weights/synthetic_reference.py",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
        },
        "architectures": architectures,
    }
    OUTPUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
