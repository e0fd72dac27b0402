"""Turns an input a fuzz target failed on into a regression for fuzz/regressions/<target>/.

Usage: python3 scripts/fuzz_regression.py TARGET NAME CRASH [BASE ...]

Without BASE files, CRASH is copied as it is (for inputs made from the repository's own
fixtures). With BASE files — the real test files under $CHIPSCOPE_TESTDATA the input was mutated
from, which are GPL data and never committed — it writes NAME.delta.json instead: the BASE paths
(relative to $CHIPSCOPE_TESTDATA), the pieces that rebuild the input (spans copied from the
BASE files laid end to end, and the few bytes the fuzzer changed, in hex) and the input's
sha256. The test suite rebuilds and replays it when the test data has been fetched.
"""
import hashlib
import json
import os
import shutil
import sys

BLOCK = 32

target, name, crash_path = sys.argv[1:4]
bases = sys.argv[4:]
folder = os.path.join("fuzz", "regressions", target)
os.makedirs(folder, exist_ok=True)
crash = open(crash_path, "rb").read()
if not bases:
    shutil.copy(crash_path, os.path.join(folder, name))
    sys.exit(0)

testdata = os.environ.get("CHIPSCOPE_TESTDATA", os.path.expanduser("~/.cache/chipscope/testdata"))
base = b"".join(open(path, "rb").read() for path in bases)
# rsync's idea: index the base by aligned blocks, then walk the input, extending every block
# that matches as far as it goes and keeping the bytes in between as they are.
blocks = {}
for start in range(0, len(base) - BLOCK + 1, BLOCK):
    blocks.setdefault(base[start:start + BLOCK], start)
pieces, literal, at = [], bytearray(), 0
while at < len(crash):
    start = blocks.get(crash[at:at + BLOCK])
    if start is None:
        literal.append(crash[at])
        at += 1
        continue
    while start > 0 and literal and base[start - 1] == literal[-1]:
        start -= 1
        literal.pop()
        at -= 1
    if literal:
        pieces.append({"bytes": literal.hex()})
        literal = bytearray()
    length = 0
    while at + length < len(crash) and start + length < len(base) and crash[at + length] == base[start + length]:
        length += 1
    pieces.append({"copy": [start, length]})
    at += length
if literal:
    pieces.append({"bytes": literal.hex()})

delta = {
    "bases": [os.path.relpath(path, testdata) for path in bases],
    "sha256": hashlib.sha256(crash).hexdigest(),
    "pieces": pieces,
}
with open(os.path.join(folder, name + ".delta.json"), "w") as file:
    head = json.dumps({key: delta[key] for key in ("bases", "sha256")})[:-1]
    lines = ",\n  ".join(json.dumps(piece) for piece in pieces)
    file.write(f'{head}, "pieces": [\n  {lines}\n]}}\n')
changed = sum(len(piece["bytes"]) // 2 for piece in pieces if "bytes" in piece)
print(f"{len(pieces)} pieces, {changed} of {len(crash)} bytes not from the bases")
