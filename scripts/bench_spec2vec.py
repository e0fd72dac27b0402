"""gensim's Word2Vec on the documents `chipscope-bench spec2vec --out` wrote, with the same
settings and one worker; prints one JSON line like chipscope's."""
import json
import sys
import time

import gensim
from gensim.models import Word2Vec

spec = json.load(open(sys.argv[1]))
sentences = spec.pop("sentences")
started = time.perf_counter()
Word2Vec(sentences, min_count=1, hs=0, workers=1, seed=1, **spec)
seconds = time.perf_counter() - started
words = sum(len(s) for s in sentences)
print(json.dumps({"impl": f"gensim {gensim.__version__}", "documents": len(sentences), "words": words,
                  "epochs": spec["epochs"], "seconds": round(seconds, 4),
                  "words_per_second": round(words * spec["epochs"] / seconds)}))
