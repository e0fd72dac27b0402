"""MRC fixtures for crates/core/tests/real_mrc_files.rs, written with mrcfile 1.5.4 (Python 3.11).

Writes small files of our own (no third-party data) under crates/core/tests/fixtures/mrc/ and
prints, for each, what `mrcfile.open(path).data` holds (shape, dtype, sum, some pixels) and
`voxel_size`: the reference values the Rust test asserts.

    int8.mrc, int16.mrc, float32.mrc, complex64.mrc, uint16.mrc, float16.mrc
                    7 x 5 (width x height) images, one per mode mrcfile writes (0, 1, 2, 4, 6,
                    12), voxel size 1.5 A; pixel (x, y) holds value(x, y) below.
    unequal.mrc     float32 7 x 5, voxel size 1.5 A in x and 2.0 A in y.
    stack.mrcs      image stack (ispg 0) of 3 float32 12 x 10 frames, frame k holding
                    value(x, y) + 100 k, voxel size 1.5 A.
    extended.mrc    int16 7 x 5 after a 160-byte extended header (int32 0..39, exttyp MRCO).
    big_endian.mrc  int16 7 x 5 stored big-endian: mrcfile writes the data's byte order when
                    given a '>i2' array (machine stamp 0x11 0x11).

mrcfile cannot write modes 3 (complex int16) and 101 (packed 4-bit); the Rust unit tests cover
them with synthetic bytes.

    python3 scripts/mrc_fixtures.py
"""

import pathlib

import mrcfile
import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/mrc"
WIDTH, HEIGHT = 7, 5


def grid(width=WIDTH, height=HEIGHT):
    """x (column) and y (row) index arrays of shape (height, width)."""
    return np.meshgrid(np.arange(width), np.arange(height))


def value(dtype, width=WIDTH, height=HEIGHT):
    """The fixture's pixel values for `dtype`, shape (height, width)."""
    x, y = grid(width, height)
    kind = np.dtype(dtype)
    if kind == np.int8:
        return (17 * x - 29 * y + 3).astype(dtype)
    if kind == np.int16:
        return (3000 * x - 7000 * y).astype(dtype)
    if kind == np.uint16:
        return (1000 * x + 7 * y + 40000).astype(dtype)
    if kind == np.complex64:
        return ((x + 1) + 1j * (y - 2)).astype(dtype)
    return ((x - 2.5 * y) * 0.75 + 0.125).astype(dtype)


def write(name, data, voxel_size=1.5, stack=False, extended=None):
    path = OUT / name
    with mrcfile.new(path, overwrite=True) as mrc:
        if extended is not None:
            mrc.set_extended_header(extended)
            mrc.header.exttyp = b"MRCO"
        mrc.set_data(data)
        if stack:
            mrc.set_image_stack()
        mrc.voxel_size = voxel_size
        # mrcfile's default label holds the time of writing: a fixed one keeps files reproducible.
        mrc.header.label[0] = b"Chipscope test fixture, written with mrcfile"
    report(path)


def report(path):
    with mrcfile.open(path) as mrc:
        data = mrc.data
        first = data[0] if data.ndim == 3 else data
        voxel = mrc.voxel_size
        print(
            f"{path.name}: {path.stat().st_size} bytes, mode {int(mrc.header.mode)}, "
            f"shape {data.shape}, dtype {data.dtype.str}, ispg {int(mrc.header.ispg)}, "
            f"nsymbt {int(mrc.header.nsymbt)}, machst {bytes(mrc.header.machst).hex()}"
        )
        print(f"  voxel size x {voxel.x!r} y {voxel.y!r} z {voxel.z!r}")
        shown = np.abs(first) if np.iscomplexobj(first) else first
        print(
            f"  first frame sum {shown.astype(np.float64).sum()!r}, "
            f"[0,0] {shown[0, 0]!r}, [0,1] {shown[0, 1]!r}, [1,0] {shown[1, 0]!r}, "
            f"[-1,-1] {shown[-1, -1]!r}"
        )


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, dtype in [
        ("int8", np.int8),
        ("int16", np.int16),
        ("float32", np.float32),
        ("complex64", np.complex64),
        ("uint16", np.uint16),
        ("float16", np.float16),
    ]:
        write(f"{name}.mrc", value(dtype))
    write("unequal.mrc", value(np.float32), voxel_size=(1.5, 2.0, 1.0))
    frames = np.stack([value(np.float32, 12, 10) + 100 * k for k in range(3)])
    write("stack.mrcs", frames.astype(np.float32), stack=True)
    write("extended.mrc", value(np.int16), extended=np.arange(40, dtype=np.int32))
    write("big_endian.mrc", value(np.int16).astype(">i2"))


if __name__ == "__main__":
    main()
