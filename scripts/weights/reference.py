#!/usr/bin/env python3
"""PyTorch reference chip embeddings from exactly the shipped weight files (test fixtures).

What it does
    Loads ``weights/resnet50.safetensors`` and ``weights/mobilenet_v2.safetensors`` (the files we
    ship, written by ``convert.py``), casts every tensor to float32 (so PyTorch computes with the
    same fp16-rounded conv weights the app uses), loads them into torchvision ``resnet50`` /
    ``mobilenet_v2`` (only the classifier heads and ``num_batches_tracked`` may be missing), and
    embeds chips of a real STEM image (HyperSpy test data ``dm3_2D_data/multi_signal.dm3``, HAADF
    512x512 uint16; GPL-3 data that is read from the local test-data cache, never copied into the
    repository) in eval mode, float32, ``torch.no_grad()``.

    Pooled features: ResNet-50 = everything up to and including ``avgpool``, flattened (2048-d);
    MobileNetV2 = ``features`` then ``adaptive_avg_pool2d(., 1)``, flattened (1280-d).

    Chip preprocessing (implemented here independently of the Rust code, per the spec it follows):
      1. display range of the whole image: ``lo, hi = np.percentile(img.astype(np.float64),
         [0.5, 99.5])`` (NumPy's default 'linear' method);
      2. chip size N: grid rows = H // N, cols = W // N; chip (r, c) = img[r*N:(r+1)*N,
         c*N:(c+1)*N] (top-left origin, remainders cropped at right/bottom); index = r * cols + c;
      3. x = clip((chip - lo) / (hi - lo), 0, 1) in float32 (lo and hi cast to float32 first;
         all zeros if hi <= lo);
      4. resize to 224x224: ``F.interpolate(x[None, None], size=(224, 224), mode="bilinear",
         align_corners=False, antialias=True)``;
      5. repeat to 3 channels, ``(x - mean[c]) / std[c]`` with the ImageNet mean/std;
      6. all chosen chips in one batch.

Run (from the repository root; needs the HyperSpy test data, see scripts/fetch-testdata.sh)
    ~/.cache/chipscope/py/venv/bin/python scripts/weights/reference.py

Outputs (in ``tests/fixtures/encoders/``)
    cases.json         source file (source.path), its sha256, display_range low/high (lo, hi), the cases, command, versions, weight sha256s,
                       and how to compare (relative error max|ours - ref| / max|ref| per embedding)
    resnet50.npy       float32 (4, 2048) pooled ResNet-50 features, one row per case
    mobilenet_v2.npy   float32 (4, 1280) pooled MobileNetV2 features
    preprocessed.npy   float32 (2, 224, 224): step-4 output (before normalisation) of the first and
                       the last case, to test the preprocessing alone
    Also prints the embeddings' norms and the cosine similarities between the chips.

The chip/model helpers here are also imported by ``convert.py`` and ``bench_torch.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_REL = "dm3_2D_data/multi_signal.dm3"  # relative to the HyperSpy test-data folder
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
# (chip_size, index): three 64-px chips (upscaled) and one 256-px chip (downscaled).
CASES = [(64, 0), (64, 27), (64, 63), (256, 3)]
ENCODERS = {
    # id: (torchvision constructor name, head prefix, embedding dim)
    "resnet50": ("resnet50", "fc.", 2048),
    "mobilenet_v2": ("mobilenet_v2", "classifier.", 1280),
}


def default_testdata_dir() -> Path:
    base = os.environ.get("CHIPSCOPE_TESTDATA") or os.path.expanduser("~/.cache/chipscope/testdata")
    return Path(base) / "hyperspy"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_stem_image(path: Path) -> np.ndarray:
    """First image of the DM3 file, checked to be the 512x512 uint16 HAADF image (0..9739)."""
    from ncempy.io import dm

    if not path.is_file():
        sys.exit(f"error: {path} not found; run scripts/fetch-testdata.sh (or set CHIPSCOPE_TESTDATA)")
    img = np.asarray(dm.dmReader(str(path))["data"])
    if img.shape != (512, 512) or img.dtype != np.uint16:
        sys.exit(f"error: expected a 512x512 uint16 image, got {img.shape} {img.dtype}")
    if int(img.min()) != 0 or int(img.max()) != 9739:
        sys.exit(f"error: expected values 0..9739, got {img.min()}..{img.max()}")
    return img


def versions() -> dict[str, str]:
    """The versions a fixture records: Python, torch, torchvision, NumPy."""
    import torchvision

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }


def display_range(img: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])
    return float(lo), float(hi)


def chip_grid(img: np.ndarray, n: int) -> tuple[int, int]:
    return img.shape[0] // n, img.shape[1] // n


def chip_at(img: np.ndarray, n: int, index: int) -> tuple[np.ndarray, int, int]:
    rows, cols = chip_grid(img, n)
    if not 0 <= index < rows * cols:
        raise ValueError(f"chip index {index} outside the {rows}x{cols} grid of {n}-px chips")
    r, c = divmod(index, cols)
    return img[r * n:(r + 1) * n, c * n:(c + 1) * n], r, c


def unit_scaled(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Step 3: display-range scaling to [0, 1] in float32 (lo and hi cast to float32 first; all
    zeros if hi <= lo)."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if hi32 <= lo32:
        return np.zeros(values.shape, dtype=np.float32)
    x = np.clip((values.astype(np.float32) - lo32) / (hi32 - lo32), np.float32(0), np.float32(1))
    assert x.dtype == np.float32
    return x


def resized_chip(chip: np.ndarray, lo: float, hi: float) -> torch.Tensor:
    """Steps 3-4: display-range scaling in float32, then antialiased bilinear resize to 224x224."""
    x = unit_scaled(chip, lo, hi)
    t = torch.from_numpy(np.ascontiguousarray(x))[None, None]
    out = F.interpolate(t, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return out[0, 0]


def normalise(resized: torch.Tensor) -> torch.Tensor:
    """Step 5: (224, 224) -> (3, 224, 224) with the ImageNet mean/std per channel."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return (resized[None].expand(3, -1, -1) - mean) / std


def build_encoder(encoder: str, state: dict[str, torch.Tensor], allow_missing_head: bool = True) -> torch.nn.Module:
    """torchvision model in eval mode with ``state`` loaded (float32); only the head may be missing."""
    import torchvision

    arch, head, _ = ENCODERS[encoder]
    model = getattr(torchvision.models, arch)(weights=None)
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=not allow_missing_head)
    if unexpected:
        raise RuntimeError(f"{encoder}: unexpected keys {unexpected}")
    bad = [k for k in missing if not (k.startswith(head) or k.endswith("num_batches_tracked"))]
    if bad:
        raise RuntimeError(f"{encoder}: missing keys outside the head: {bad}")
    return model.eval()


def pooled_features(encoder: str, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if encoder == "resnet50":
        m = model
        h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
        return torch.flatten(m.avgpool(h), 1)
    if encoder == "mobilenet_v2":
        return torch.flatten(F.adaptive_avg_pool2d(model.features(x), 1), 1)
    raise ValueError(encoder)


def load_shipped(weights_dir: Path, encoder: str) -> torch.nn.Module:
    from safetensors.torch import load_file

    path = weights_dir / f"{encoder}.safetensors"
    if not path.is_file():
        sys.exit(f"error: {path} not found; run scripts/weights/convert.py first")
    return build_encoder(encoder, load_file(str(path)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, default=REPO_ROOT / "weights", help="folder with the shipped *.safetensors")
    ap.add_argument("--testdata", type=Path, default=default_testdata_dir(), help="HyperSpy test-data folder")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "tests/fixtures/encoders", help="fixture folder")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    src = args.testdata / SOURCE_REL
    img = load_stem_image(src)
    lo, hi = display_range(img)
    print(f"image {img.shape} {img.dtype} {img.min()}..{img.max()}  lo={lo} hi={hi}", file=sys.stderr)

    cases, resized = [], []
    for n, index in CASES:
        chip, r, c = chip_at(img, n, index)
        cases.append({"chip_size": n, "index": index, "row": r, "col": c})
        resized.append(resized_chip(chip, lo, hi))
    batch = torch.stack([normalise(x) for x in resized])

    args.out.mkdir(parents=True, exist_ok=True)
    preprocessed = torch.stack([resized[0], resized[-1]]).numpy().astype("<f4")
    np.save(args.out / "preprocessed.npy", preprocessed)

    weight_sha = {}
    for encoder, (_, _, dim) in ENCODERS.items():
        wpath = args.weights / f"{encoder}.safetensors"
        model = load_shipped(args.weights, encoder)
        weight_sha[wpath.name] = sha256_file(wpath)
        with torch.no_grad():
            emb = pooled_features(encoder, model, batch).numpy().astype("<f4")
        assert emb.shape == (len(CASES), dim) and np.isfinite(emb).all()
        np.save(args.out / f"{encoder}.npy", emb)
        norms = np.linalg.norm(emb.astype(np.float64), axis=1)
        unit = emb.astype(np.float64) / norms[:, None]
        print(f"\n{encoder}: shape {emb.shape}, max {emb.max():.4f}, min {emb.min():.4f}")
        print("  norms: " + ", ".join(f"{c['chip_size']}#{c['index']}={v:.4f}" for c, v in zip(cases, norms)))
        print("  cosine similarities:")
        for i, c in enumerate(cases):
            print(f"    {c['chip_size']:>3}#{c['index']:<2} " + " ".join(f"{v:7.4f}" for v in unit[i] @ unit.T))

    meta = {
        "description": "PyTorch reference pooled embeddings of chips of a real STEM image, computed "
        "from exactly the shipped weight files (every tensor cast to float32).",
        "source": {
            "path": SOURCE_REL,
            "relative_to": "the HyperSpy test-data folder ($CHIPSCOPE_TESTDATA/hyperspy, from the "
            "hyperspy==1.7.6 wheel's hyperspy/tests/io; GPL-3 data, not in this repository)",
            "sha256": sha256_file(src),
            "image": "first image of the file: HAADF, 512x512 uint16, values 0..9739",
        },
        "display_range": {"low": lo, "high": hi, "how": "np.percentile(img.astype(np.float64), [0.5, 99.5]) over the whole image (linear method)"},
        "preprocessing": [
            "chip (r, c) = img[r*N:(r+1)*N, c*N:(c+1)*N], rows = H // N, cols = W // N, index = r * cols + c",
            "x = clip((chip - lo) / (hi - lo), 0, 1) in float32 (lo, hi cast to float32; zeros if hi <= lo)",
            "F.interpolate(x[None, None], size=(224, 224), mode='bilinear', align_corners=False, antialias=True)",
            "repeat to 3 channels, (x - mean[c]) / std[c], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)",
        ],
        "cases": cases,
        "files": {
            "resnet50.npy": "float32 (4, 2048): ResNet-50 up to and including avgpool, flattened; one row per case",
            "mobilenet_v2.npy": "float32 (4, 1280): MobileNetV2 features, adaptive_avg_pool2d(., 1), flattened",
            "preprocessed.npy": "float32 (2, 224, 224): resized single-channel image before normalisation, for the first and the last case",
        },
        "weights_sha256": weight_sha,
        "compare": "relative error per embedding: max|ours - ref| / max|ref| (max over the embedding's elements)",
        "command": "~/.cache/chipscope/py/venv/bin/python scripts/weights/reference.py",
        "versions": versions(),
    }
    (args.out / "cases.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"\nwrote {', '.join(sorted(p.name for p in args.out.iterdir()))} in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
