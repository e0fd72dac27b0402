"""Writes the small weight files that the unit tests of `chipscope_core::weights` load.

Run from the repository root (torch 2.15, safetensors and numpy in the project venv):

    ~/.cache/chipscope/py/venv/bin/python scripts/weights/make_reader_fixtures.py

Every value is built from `torch.arange` or written literally, so the Rust tests state the
expected values as formulas; nothing here is random. Files go to
crates/core/tests/fixtures/weights/ (each a few KB):

- state_dict.pth        a module's state dict (OrderedDict with `_metadata`) plus f16, bf16,
                        f64, 0-d, empty, transposed and offset/strided view tensors and an int64
                        tensor; views share one storage
- state_dict.safetensors  the same tensors, contiguous, as safetensors
- deflated.pth          state_dict.pth with every zip entry deflate-compressed
- protocol4.pth         the same state dict pickled with protocol 4 (FRAME, MEMOIZE, ...)
- checkpoint.pth        {"epoch", "lr", "state_dict": {..nested..}, "param": nn.Parameter,
                        "optimizer": SGD state dict (int keys), a tensor subclass, an expanded
                        (stride 0) tensor, ...}
- whole_model.pth       torch.save of an nn.Module itself rather than its state dict
- legacy.pth            state_dict.pth's state dict in the legacy (pre-1.6, non-zip) format, whose
                        views share one storage too
- legacy_protocol4.pth  the same, pickled with protocol 4 (so its magic number is FRAMEd)
- tar_format.pth        PyTorch's first format (a tar archive, early 2017), holding an empty dict
- short_storage.pth     {"w": 8 floats} whose storage entry was cut to 4 floats
- big_endian.pth        {"w": 2 × 3 floats} rewritten with byteorder "big"
"""

import collections
import io
import pathlib
import pickle
import tarfile
import zipfile

import numpy as np
import torch
from safetensors.torch import save_file

OUT = pathlib.Path("crates/core/tests/fixtures/weights")


def tiny_module():
    conv = torch.nn.Conv2d(2, 3, kernel_size=2)
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(24.0).reshape(3, 2, 2, 2) * 0.25 - 3)
        conv.bias.copy_(torch.tensor([0.5, -0.5, 1.5]))
        bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        bn.bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
        bn.running_mean.copy_(torch.tensor([0.25, 0.5, 0.75]))
        bn.running_var.copy_(torch.tensor([1.0, 4.0, 9.0]))
        bn.num_batches_tracked.fill_(7)
    return torch.nn.Sequential(collections.OrderedDict(conv=conv, bn=bn))


def extra_tensors():
    full = torch.arange(10.0)
    return {
        "extra.half": (torch.arange(6.0) * 0.5 - 1).reshape(2, 3).half(),
        "extra.bfloat": (torch.arange(4.0) * -2 + 0.5).bfloat16(),
        "extra.double": torch.tensor([1 / 3, 2.5e-3, -1e10], dtype=torch.float64),
        "extra.transposed": torch.arange(6.0).reshape(2, 3).t(),
        "extra.full": full,
        "extra.window": full[4:7],
        "extra.strided": full[1::3],
        "extra.scalar": torch.tensor(2.5),
        "extra.empty": torch.zeros(0, 4),
        "extra.index": torch.arange(5),
    }


def state_dict():
    sd = tiny_module().state_dict()
    sd.update(extra_tensors())
    assert not sd["extra.transposed"].is_contiguous()
    assert sd["extra.window"].storage_offset() == 4
    return sd


def save(obj, name, **kwargs):
    path = OUT / name
    torch.save(obj, path, **kwargs)
    return path


def rewrite_zip(source, target, transform, compression=zipfile.ZIP_STORED):
    """Copies a zip entry by entry, passing each (name, bytes) through `transform`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compression) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, transform(info.filename, zin.read(info)))


class Tagged(torch.Tensor):
    """A tensor subclass, which torch pickles through `_rebuild_from_type_v2`."""


def checkpoint():
    param = torch.nn.Parameter(torch.tensor([1.5, -2.5]))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = torch.tensor([1.0, 2.0])
    optimizer.step()
    with torch.no_grad():
        param.copy_(torch.tensor([1.5, -2.5]))
    return {
        "epoch": 3,
        "lr": 0.1,
        "name": "tiny",
        "history": [0.5, 0.25],
        "state_dict": {
            "conv.weight": torch.arange(4.0).reshape(2, 2),
            "head": {"bias": torch.tensor([7.0])},
        },
        "param": param,
        "optimizer": optimizer.state_dict(),
        "tagged": torch.arange(3.0).as_subclass(Tagged),
        "expanded": torch.arange(3.0).expand(2, 3),
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    sd = state_dict()
    pth = save(sd, "state_dict.pth")
    save_file({k: v.contiguous().clone() for k, v in sd.items()}, OUT / "state_dict.safetensors")
    rewrite_zip(pth, OUT / "deflated.pth", lambda _, data: data, zipfile.ZIP_DEFLATED)
    save(sd, "protocol4.pth", pickle_protocol=4)
    save(checkpoint(), "checkpoint.pth")
    save(tiny_module(), "whole_model.pth")
    save(sd, "legacy.pth", _use_new_zipfile_serialization=False)
    save(sd, "legacy_protocol4.pth", _use_new_zipfile_serialization=False, pickle_protocol=4)
    write_tar_format(OUT / "tar_format.pth")

    short = save({"w": torch.arange(8.0)}, "short_storage_source.pth")
    rewrite_zip(short, OUT / "short_storage.pth", lambda n, d: d[:16] if "/data/" in n else d)
    short.unlink()

    big = save({"w": torch.arange(6.0).reshape(2, 3) * 0.5}, "big_endian_source.pth")
    rewrite_zip(big, OUT / "big_endian.pth", to_big_endian)
    big.unlink()

    for path in sorted(OUT.iterdir()):
        print(f"{path.stat().st_size:6d}  {path}")


def write_tar_format(path):
    """Writes an empty dict as torch.save did until early 2017: a PAX tar of four records."""
    records = {
        "sys_info": [{"protocol_version": 1000, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 8}}],
        "pickle": [{}],
        "tensors": [0],
        "storages": [0, []],  # no storages, no storage views
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, pickles in records.items():
            data = b"".join(pickle.dumps(obj, protocol=2) for obj in pickles)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1490000000.5  # fractional, so tarfile writes a PAX header first
            tar.addfile(info, io.BytesIO(data))
    assert torch.load(path, weights_only=False) == {}


def to_big_endian(name, data):
    """Byte-swaps the (float32) storages and marks the archive big-endian."""
    if name.endswith("/byteorder"):
        return b"big"
    if "/data/" in name:
        return np.frombuffer(data, dtype="<f4").astype(">f4").tobytes()
    return data


if __name__ == "__main__":
    main()
