"""Atom-column finding as the Python reference does it, beside `chipscope atoms` (run by
scripts/bench-atoms.sh): scikit-image's blob_log detection, then Atomap 0.4.2's refinement
(centre of mass, then a 2-D Gaussian per column) on the blob positions.

    python scripts/bench_atoms.py generate DIR        image.tif + truth.csv (+ meta.json)
    python scripts/bench_atoms.py reference DIR [--atomap-subset N]
    python scripts/bench_atoms.py table DIR --ours-seconds S --ours-wall W

generate: a 1024 x 1024 square lattice, a = 10.2 px rotated 3 degrees (about 10 000 columns),
each column jittered by U(-0.25, 0.25) px, sigma U(1.4, 1.8) px, peak U(0.7, 1.0), on a
background of 0.1; Poisson counts at 200 per unit plus N(0, 2) read noise
(numpy default_rng(7)). Written as float32 TIFF with the true x,y (x = column) as CSV.

reference: blob_log on the image scaled to [0, 1] with the settings `chipscope atoms` uses
(sigma from a/(4 sqrt 2) to a/(2 sqrt 2), num_sigma 5, threshold_rel 0.2, overlap 0.5), then
Atomap's Sublattice on those positions: find_nearest_neighbors(),
refine_atom_positions_using_center_of_mass(), refine_atom_positions_using_2d_gaussian()
(percent_to_nn 0.4). With --atomap-subset N (> 0), only N columns spread over the image are
refined (their neighbours still come from every column) and the time is also extrapolated to
all columns. Measured with Python 3.11.7, NumPy 2.4.6, SciPy 1.17.1, scikit-image 0.26.0,
atomap 0.4.2, hyperspy 2.5.0.

table: scores every CSV against the truth (columns at least half a spacing inside the image; a
match is within half a spacing) and prints one table.
"""

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile
from scipy.spatial import cKDTree

SIZE, SPACING, SEED = 1024, 10.2, 7


def generate(folder):
    rng = np.random.default_rng(SEED)
    angle = np.radians(3.0)
    a = SPACING * np.array([np.cos(angle), np.sin(angle)])
    b = SPACING * np.array([-np.sin(angle), np.cos(angle)])
    i, j = np.mgrid[-10:112, -10:112]
    points = i.reshape(-1, 1) * a + j.reshape(-1, 1) * b + (2.7, 3.4)
    points = points[((points > -5) & (points < SIZE + 5)).all(axis=1)]
    points += rng.uniform(-0.25, 0.25, points.shape)
    sigma = rng.uniform(1.4, 1.8, len(points))
    peak = rng.uniform(0.7, 1.0, len(points))
    image = np.full((SIZE, SIZE), 0.1)
    for (x, y), s, h in zip(points, sigma, peak):
        x0, x1 = max(int(x - 5 * s), 0), min(int(x + 5 * s) + 2, SIZE)
        y0, y1 = max(int(y - 5 * s), 0), min(int(y + 5 * s) + 2, SIZE)
        if x0 >= x1 or y0 >= y1:
            continue
        xx, yy = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
        image[y0:y1, x0:x1] += h * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    image = rng.poisson(200.0 * image) + rng.normal(0.0, 2.0, image.shape)
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / "image.tif", image.astype("<f4"))
    np.savetxt(folder / "truth.csv", points, fmt="%.4f", delimiter=",", header="x,y", comments="")
    (folder / "meta.json").write_text(json.dumps({"size": SIZE, "spacing": SPACING}))
    print(f"{SIZE} x {SIZE} image, {len(points)} columns (spacing {SPACING} px) in {folder}")


def reference(folder, subset):
    warnings.filterwarnings("ignore")  # HyperSpy's deprecation chatter
    from skimage.feature import blob_log
    import atomap.api as am

    failed = []

    def count_failures(record):
        """Counts HyperSpy's unconverged fits and silences its per-fit warnings."""
        if "did not exit successfully" in record.getMessage():
            failed.append(record)
        return False

    logging.getLogger("hyperspy.model").addFilter(count_failures)
    image = tifffile.imread(folder / "image.tif").astype(np.float64)
    timings = {}
    started = time.perf_counter()
    unit = (image - image.min()) / (image.max() - image.min())
    blobs = blob_log(unit, min_sigma=SPACING / (4 * 2**0.5), max_sigma=SPACING / (2 * 2**0.5),
                     num_sigma=5, threshold=None, threshold_rel=0.2, overlap=0.5)
    timings["blob_log"] = time.perf_counter() - started
    positions = blobs[:, 1::-1]  # (row, col, sigma) -> (x, y)
    save(folder / "blob_log.csv", positions)

    started = time.perf_counter()
    sublattice = am.Sublattice(positions, image=image)
    sublattice.find_nearest_neighbors()
    timings["atomap_setup"] = time.perf_counter() - started
    total = len(sublattice.atom_list)
    if 0 < subset < total:
        # Every k-th column in raster order, so the subset covers the image.
        order = np.lexsort((positions[:, 0], positions[:, 1]))
        keep = order[np.linspace(0, total - 1, subset).astype(int)]
        sublattice.atom_list = [sublattice.atom_list[k] for k in keep]
    refined = len(sublattice.atom_list)
    started = time.perf_counter()
    sublattice.refine_atom_positions_using_center_of_mass(show_progressbar=False)
    timings["atomap_com"] = time.perf_counter() - started
    started = time.perf_counter()
    sublattice.refine_atom_positions_using_2d_gaussian(show_progressbar=False)
    timings["atomap_gaussian"] = time.perf_counter() - started
    save(folder / "atomap.csv", [(p.pixel_x, p.pixel_y) for p in sublattice.atom_list])
    timings.update(blobs=total, refined=refined, failed_fits=len(failed))
    (folder / "reference.json").write_text(json.dumps(timings))
    print(f"blob_log: {total} columns in {timings['blob_log']:.2f} s; Atomap refined {refined} "
          f"(centre of mass {timings['atomap_com']:.2f} s, 2-D Gaussian "
          f"{timings['atomap_gaussian']:.2f} s, neighbours {timings['atomap_setup']:.2f} s); "
          f"{len(failed)} HyperSpy fits stopped at their evaluation limit (maxfev)")


def save(path, xy):
    np.savetxt(path, np.asarray(xy).reshape(-1, 2), fmt="%.4f", delimiter=",", header="x,y",
               comments="")


def load(path):
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1), ndmin=2)


def inside(points):
    """The points at least half a spacing inside the image."""
    margin = SPACING / 2
    return points[((points >= margin) & (points <= SIZE - 1 - margin)).all(axis=1)]


def score(found, truth, subset=False):
    """Precision, recall and mean matched error against the truth, a match being within half a
    spacing; recall is NaN for a subset."""
    tol = SPACING / 2
    hits, _ = cKDTree(truth).query(inside(found))
    recall = float("nan")
    if not subset:
        near, _ = cKDTree(found).query(inside(truth))
        recall = (near <= tol).mean()
    return (hits <= tol).mean(), recall, hits[hits <= tol].mean()


def table(folder, ours_seconds, ours_wall):
    truth = load(folder / "truth.csv")
    ref = json.loads((folder / "reference.json").read_text())
    subset = ref["refined"] < ref["blobs"]
    atomap_s = ref["atomap_setup"] + ref["atomap_com"] + ref["atomap_gaussian"]
    per_column = (ref["atomap_com"] + ref["atomap_gaussian"]) / ref["refined"]
    atomap_all = ref["atomap_setup"] + per_column * ref["blobs"]
    # (name, CSV or None, seconds, whether the CSV covers only a subset of the columns)
    rows = [
        ("chipscope atoms (LoG + refine, in-process)", load(folder / "ours.csv"), ours_seconds,
         False),
        ("chipscope atoms (whole process)", None, ours_wall, False),
        ("skimage blob_log (detection only)", load(folder / "blob_log.csv"), ref["blob_log"],
         False),
        (f"Atomap CoM + 2-D Gaussian ({ref['refined']} columns)", load(folder / "atomap.csv"),
         atomap_s, subset),
    ]
    if subset:
        rows.append((f"Atomap extrapolated to {ref['blobs']} columns", None, atomap_all, False))
    rows.append(("reference total (blob_log + Atomap)", None, ref["blob_log"] + atomap_all,
                 False))
    scored = len(inside(truth))
    print(f"\n{SIZE} x {SIZE} synthetic lattice, {len(truth)} columns placed, {scored} scored "
          f"(at least half a spacing inside), spacing {SPACING} px, {os.cpu_count()} cores")
    print(f"{'method':<46}{'columns':>8}{'precision':>11}{'recall':>8}{'error px':>10}"
          f"{'seconds':>10}")
    for name, found, seconds, part in rows:
        if found is None:
            print(f"{name:<46}{'':>8}{'':>11}{'':>8}{'':>10}{seconds:>10.2f}")
            continue
        p, r, e = score(found, truth, part)
        recall = "       -" if part else f"{r:8.4f}"
        print(f"{name:<46}{len(found):>8}{p:>11.4f}{recall}{e:>10.4f}{seconds:>10.2f}")
    print(f"Atomap: {ref['failed_fits']} of its HyperSpy Gaussian fits stopped at the evaluation "
          f"limit (maxfev) before converging.")
    if subset:
        print(f"Atomap refined a subset of {ref['refined']} of {ref['blobs']} columns "
              f"(--atomap-subset): {per_column * 1e3:.1f} ms per column; its total is "
              f"extrapolated, and its recall is not scored.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["generate", "reference", "table"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--atomap-subset", type=int, default=0)
    parser.add_argument("--ours-seconds", type=float)
    parser.add_argument("--ours-wall", type=float)
    args = parser.parse_args()
    if args.step == "generate":
        generate(args.dir)
    elif args.step == "reference":
        reference(args.dir, args.atomap_subset)
    else:
        table(args.dir, args.ours_seconds, args.ours_wall)


if __name__ == "__main__":
    main()
