"""Reference for spec2vec: gensim's Word2Vec on the documents of synthetic EDS chip spectra.

Writes crates/core/tests/fixtures/spec2vec/reference.json, read by
crates/core/tests/spec2vec_reference.rs:
- `documents`: per chip, its words (20 eV energy bins, the 64 most intense, in energy order)
  and intensities (word counts / the largest), made exactly as `spectra::spec2vec::document`;
- `similarity`: spec2vec's cosine similarity of every chip pair (upper triangle, row-major),
  with chip vectors sum(intensity ** 0.5 * word vector), from a gensim model trained on them;
- `phase`: each chip's phase; `gensim_seconds`: gensim's training time.

Chips: 120 chip spectra of three phases at low counts (about 800 counts per chip, as a
32 x 32 px chip of a map with under one count per pixel): Gaussian lines (FWHM 130 eV) on a
bremsstrahlung-like background, Poisson sampled.
  phase 0: Fe K (6.40, 7.06), S K (2.31)      phase 1: C K (0.277), O K (0.525), Si K (1.74)
  phase 2: Fe K and O K and Cr K (5.41, 5.95)
Run with the project venv (gensim 4.4.0, numpy 2.4.6):
  ~/.cache/chipscope/py/venv/bin/python scripts/spec2vec_reference.py
"""
import json
import pathlib
import time

import gensim
import numpy as np
from gensim.models import Word2Vec

CHANNELS, SCALE_KEV = 1024, 0.02          # 0-20.48 keV in 20 eV channels
WORD_KEV, MAX_WORDS = 0.02, 64
LINES = [
    [(6.40, 1.0), (7.06, 0.15), (2.31, 0.8)],
    [(0.277, 1.0), (0.525, 0.6), (1.74, 0.7)],
    [(6.40, 0.8), (7.06, 0.12), (0.525, 0.5), (5.41, 0.7), (5.95, 0.1)],
]
CHIPS, COUNTS = 120, 800

rng = np.random.default_rng(7)
energy = (np.arange(CHANNELS) + 0.5) * SCALE_KEV


def expected(phase):
    sigma = 0.130 / 2.355
    lines = sum(w * np.exp(-0.5 * ((energy - e) / sigma) ** 2) for e, w in LINES[phase])
    background = 0.02 * np.clip(10.0 - energy, 0, None) / (energy + 0.3)
    shape = lines + background
    return shape / shape.sum() * COUNTS


def document(counts):
    words = np.zeros(int(np.ceil(CHANNELS * SCALE_KEV / WORD_KEV)), dtype=np.int64)
    for channel in np.nonzero(counts)[0]:
        kev = channel * SCALE_KEV + SCALE_KEV / 2
        words[int(np.floor(kev / WORD_KEV))] += counts[channel]
    present = [w for w in range(len(words)) if words[w] > 0]
    ranked = sorted(present, key=lambda w: (-words[w], w))[:MAX_WORDS]
    ranked.sort()
    top = max(words[w] for w in ranked)
    return ranked, [float(np.float32(words[w]) / np.float32(top)) for w in ranked]


phases = [i % 3 for i in range(CHIPS)]
spectra = [rng.poisson(expected(p)) for p in phases]
documents = [document(s) for s in spectra]
sentences = [[f"E@{w * WORD_KEV:.2f}" for w in words] for words, _ in documents]

started = time.perf_counter()
model = Word2Vec(sentences, vector_size=64, window=10, min_count=1, sg=0, negative=5, hs=0,
                 sample=1e-3, alpha=0.025, min_alpha=0.0001, epochs=20, workers=1, seed=1)
seconds = time.perf_counter() - started

vectors = []
for (words, intensities), sentence in zip(documents, sentences):
    v = np.sum([model.wv[word] * i ** 0.5 for word, i in zip(sentence, intensities)], axis=0)
    vectors.append(v / np.linalg.norm(v))
vectors = np.array(vectors)
similarity = vectors @ vectors.T
upper = similarity[np.triu_indices(CHIPS, k=1)]

out = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/spec2vec/reference.json"
out.write_text(json.dumps({
    "gensim": gensim.__version__,
    "gensim_seconds": seconds,
    "phase": phases,
    "documents": [{"words": w, "intensities": i} for w, i in documents],
    "similarity": [round(float(s), 5) for s in upper],
}, separators=(",", ":")))
print(f"gensim {gensim.__version__}: {CHIPS} documents trained in {seconds:.3f} s; wrote {out}")
