"""Atomap reference fixtures for crates/core/tests/atoms_reference.rs.

Makes three synthetic atomic-resolution images with Atomap 0.4.2's own generators, runs the
standard Atomap flow on each and writes, under crates/core/tests/fixtures/atoms/:

    NAME.tif          the image, 32-bit float little-endian TIFF (tifffile)
    NAME_truth.csv    x,y of every column the generator placed (pixels; x = column, y = row)
    NAME_atomap.csv   x,y of Atomap's refined columns

The Atomap flow: `atomap.api.get_atom_positions(signal, separation, threshold_rel)`, then
`Sublattice(positions, image)`, `find_nearest_neighbors()`,
`refine_atom_positions_using_center_of_mass()` and `refine_atom_positions_using_2d_gaussian()`
(both at Atomap's default percent_to_nn = 0.4).

    simple_cubic  dummy_data.get_simple_cubic_sublattice(image_noise=True), np.random.seed(0):
                  300 x 300, 20 x 20 columns on linspace(10, 290, 20) (spacing 14.74 px),
                  sigma 3 px, |N(0, 0.002)| noise; Atomap separation 10, threshold_rel 0.02.
    perovskite    dummy_data.get_perovskite_001_atom_lattice(image_noise=True),
                  np.random.seed(1): 252 x 252, A columns (amplitude 20) at 5 + 20 i and B
                  columns (amplitude 8, 0.4 of A) at 15 + 20 i, sigma 3 px, |N(0, 0.004)| noise
                  on each; nearest A-B distance 14.14 px; Atomap separation 5, threshold_rel 0.02
                  (at 7 and more a B column's peak sits under a bright A column's shoulder).
    hexagonal     testing_tools.MakeTestData (the generator behind dummy_data): 256 x 256,
                  hexagonal lattice a = 11 px rotated 7 degrees, each column jittered uniformly
                  by +-0.3 px, sigma 2.0-2.4 px, peak 0.6-1.0, on a background of 0.1, then
                  Poisson counts at 100 per unit (numpy default_rng(2026));
                  Atomap separation 5, threshold_rel 0.2 (at 6, 1 % of the columns are missed).

With `--real`, the script also writes Atomap's real SrTiO3 HAADF test image
(atomap/tests/datasets/test_ADF_cropped.hdf5, 380 x 400) and Atomap's positions on it
(separation 12, threshold_rel 0.02) to $CHIPSCOPE_TESTDATA/atomap/ (default
~/.cache/chipscope/testdata): Atomap is GPL-3, so its data stays out of the repository like the
HyperSpy test files; the Rust test skips it when absent.

Run with the project venv (Python 3.11.7, atomap 0.4.2, hyperspy 2.5.0, numpy 2.4.6,
scikit-image 0.26.0, tifffile 2026.3.3):

    ~/.cache/chipscope/py/venv/bin/python scripts/atoms_reference.py [--real]
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile

warnings.filterwarnings("ignore")  # HyperSpy's deprecation chatter
import atomap  # noqa: E402
import atomap.api as am  # noqa: E402
import hyperspy.api as hs  # noqa: E402
from atomap.testing_tools import MakeTestData  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates/core/tests/fixtures/atoms"


def atomap_positions(image, separation, threshold_rel):
    """Atomap's standard flow on `image`: peak finding, centre of mass, 2-D Gaussian."""
    signal = hs.signals.Signal2D(image)
    peaks = am.get_atom_positions(signal, separation, threshold_rel=threshold_rel)
    sublattice = am.Sublattice(peaks, image=image)
    sublattice.find_nearest_neighbors()
    sublattice.refine_atom_positions_using_center_of_mass(show_progressbar=False)
    sublattice.refine_atom_positions_using_2d_gaussian(show_progressbar=False)
    return np.array([(a.pixel_x, a.pixel_y) for a in sublattice.atom_list])


def simple_cubic():
    np.random.seed(0)
    sublattice = am.dummy_data.get_simple_cubic_sublattice(image_noise=True)
    truth = [(a.pixel_x, a.pixel_y) for a in sublattice.atom_list]
    return sublattice.image, np.array(truth), dict(separation=10, threshold_rel=0.02)


def perovskite():
    np.random.seed(1)
    lattice = am.dummy_data.get_perovskite_001_atom_lattice(image_noise=True)
    truth = [(a.pixel_x, a.pixel_y) for s in lattice.sublattice_list for a in s.atom_list]
    return lattice.image, np.array(truth), dict(separation=5, threshold_rel=0.02)


def hexagonal():
    size, a, angle = 256, 11.0, np.radians(7.0)
    rng = np.random.default_rng(2026)
    basis = a * np.array([[np.cos(angle), np.sin(angle)],
                          [np.cos(angle + np.pi / 3), np.sin(angle + np.pi / 3)]])
    i, j = np.mgrid[-40:40, -40:40]
    points = i.reshape(-1, 1) * basis[0] + j.reshape(-1, 1) * basis[1] + (3.3, 4.1)
    points = points[((points > -5) & (points < size + 5)).all(axis=1)]
    points += rng.uniform(-0.3, 0.3, points.shape)
    n = len(points)
    sx, sy = rng.uniform(2.0, 2.4, n), rng.uniform(2.0, 2.4, n)
    peak = rng.uniform(0.6, 1.0, n)
    data = MakeTestData(size, size)
    # Atomap's amplitude is the Gaussian's volume.
    data.add_atom_list(points[:, 0], points[:, 1], sigma_x=sx, sigma_y=sy,
                       amplitude=peak * 2 * np.pi * sx * sy, rotation=rng.uniform(0, np.pi, n))
    image = rng.poisson(100.0 * (data.signal.data + 0.1)).astype(np.float64)
    return image, points, dict(separation=5, threshold_rel=0.2)


def real_adf():
    path = Path(atomap.__file__).parent / "tests/datasets/test_ADF_cropped.hdf5"
    image = hs.load(path, reader="HSPY").data.astype(np.float64)
    return image, None, dict(separation=12, threshold_rel=0.02)


def write_csv(path, xy):
    np.savetxt(path, xy, fmt="%.4f", delimiter=",", header="x,y", comments="")


def write(folder, name, make):
    image, truth, params = make()
    image = image.astype("<f4")  # Atomap sees exactly the pixels the TIFF holds
    started = time.perf_counter()
    found = atomap_positions(image, **params)
    seconds = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / f"{name}.tif", image)
    if truth is not None:
        write_csv(folder / f"{name}_truth.csv", truth)
    write_csv(folder / f"{name}_atomap.csv", found)
    print(f"{name}: {image.shape[1]} x {image.shape[0]}, "
          f"{'?' if truth is None else len(truth)} true columns, "
          f"Atomap found {len(found)} in {seconds:.1f} s ({params})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true",
                        help="also write Atomap's real HAADF image to $CHIPSCOPE_TESTDATA/atomap")
    args = parser.parse_args()
    for name, make in [("simple_cubic", simple_cubic), ("perovskite", perovskite),
                       ("hexagonal", hexagonal)]:
        write(FIXTURES, name, make)
    if args.real:
        testdata = os.environ.get("CHIPSCOPE_TESTDATA",
                                  os.path.expanduser("~/.cache/chipscope/testdata"))
        write(Path(testdata) / "atomap", "sto_adf", real_adf)


if __name__ == "__main__":
    main()
