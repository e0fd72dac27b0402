#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser (cargo-fuzz, libFuzzer; README: "Fuzzing").
#
#   bash scripts/fuzz.sh                      # smoke: every target for 30 s
#   bash scripts/fuzz.sh --seconds 600 dm bcf # a campaign: these targets, 10 minutes each
#   bash scripts/fuzz.sh --runs 10000000      # every target until 10 million executions
#   (--seconds and --runs together: whichever comes first; --timeout N: seconds per input that
#   count as a hang, 1 by default — on a busy machine a real file's input can take longer)
#
# Builds the targets of fuzz/ with the pinned nightly (no sanitizer: the code under test is
# safe Rust, so AddressSanitizer would mostly cost executions; overflow checks and debug
# assertions on), seeds each corpus from real microscope files and the repository's fixtures,
# and runs each target on one core. A crash, a hang (> 1 s for one input) or an input that
# needs > 2 GB of memory stops the target and is kept in $FUZZ/artifacts/<target>/; once fixed,
# scripts/fuzz_regression.py adds it to fuzz/regressions/<target>/ (as a delta when it was
# mutated from GPL test data), and the normal test suite replays it. Corpora grow in
# $FUZZ/corpus/ from run to run, minimised after each. Prints one line per target:
# executions, edges covered, corpus size and findings.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

FUZZ="${CHIPSCOPE_FUZZ:-$HOME/.cache/chipscope/fuzz}"
limit=()
targets=()
timeout=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) limit+=(-max_total_time="$2"); shift 2 ;;
        --runs) limit+=(-runs="$2"); shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#limit[@]} -gt 0 ] || limit=(-max_total_time=30)

if ! command -v cargo-fuzz >/dev/null; then
    echo "[fuzz] installing cargo-fuzz (about a minute, once)"
    cargo install cargo-fuzz --locked --version 0.13.2
fi
bash scripts/setup.sh
bash scripts/fetch-testdata.sh
build_test_cli
RUSTUP_TOOLCHAIN="$CHIPSCOPE_NIGHTLY" cargo fuzz build -O --debug-assertions --sanitizer none \
    --target-dir "$HOME/.cache/chipscope/fuzz-target"
bin="$HOME/.cache/chipscope/fuzz-target/x86_64-unknown-linux-gnu/release"
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)

data="$CHIPSCOPE_TESTDATA/hyperspy"
fixtures="crates/core/tests/fixtures"
seeds="$FUZZ/seeds"

# seed TARGET FILE...: copies the files that exist into the target's seed corpus.
seed() {
    local target="$1"; shift
    mkdir -p "$seeds/$target"
    for file in "$@"; do [ -f "$file" ] && cp "$file" "$seeds/$target/" || true; done
}

# pair TARGET FIRST SECOND: one input holding two files, as crates/fuzz-targets' split_pair
# reads it (FIRST's length as a little-endian u32, FIRST, SECOND).
pair() {
    [ -f "$2" ] && [ -f "$3" ] || return 0
    mkdir -p "$seeds/$1"
    { perl -e 'print pack("V", -s $ARGV[0])' "$2"; cat "$2" "$3"; } > "$seeds/$1/$(basename "$2").pair"
}

make_seeds() {
    rm -rf "$seeds"
    # What only the Python package writes (class reports, frame summaries) is kept in fuzz/seeds.
    mkdir -p "$(dirname "$seeds")" && cp -r fuzz/seeds "$seeds" && rm "$seeds/README.md"
    local scratch
    scratch=$(mktemp -d)
    "$CARGO_TARGET_DIR/debug/chipscope" simulate --size 96 --out "$scratch/example.tif" \
        --labels "$scratch/labels.png" >/dev/null
    seed png "$scratch/labels.png"
    seed jpeg /usr/share/doc/nodejs/*.jpg
    seed tiff "$scratch/example.tif" "$fixtures"/atoms/*.tif "$data"/tiff_files/*.tif
    seed dm "$data"/dm3_2D_data/test-1.dm3 "$data"/dm4_2D_data/test-1.dm4 \
        "$data"/dm3_1D_data/test-1.dm3 "$data"/dm4_3D_data/test-1.dm4 \
        "$data"/dm4_2D_data/test-MonarcCL_spectrum-SI.dm4
    seed emd_berkeley "$data"/emd_files/example_image.emd "$data"/emd_files/example_signal.emd
    seed emd_velox "$data"/emd_files/fei_example_tem_stack.emd "$data"/emd_files/fei_example_dpc_titles.emd
    seed tia "$data"/FEI_old/16x16_STEM_BF_DF_search_1.ser "$data"/FEI_old/16x16-point_spectrum-1x1024_1.ser \
        "$data"/FEI_old/16x16-2_point-spectra-2x1024_1.ser
    pair tia_emi "$data"/FEI_old/16x16_STEM_BF_DF_search_1.ser "$data"/FEI_old/16x16_STEM_BF_DF_search.emi
    pair tia_emi "$data"/FEI_old/16x16-point_spectrum-1x1024_1.ser "$data"/FEI_old/16x16-point_spectrum-1x1024.emi
    seed jeol_img "$data"/JEOL_files/Sample/00_View000/View000_0000000.img
    seed mrc "$fixtures"/mrc/*.mrc*
    seed bcf "$data"/bruker_data/16x16_12bit_packed_8bit.bcf "$data"/bruker_data/30x30_instructively_packed_16bit_compressed.bcf
    seed pts "$data"/JEOL_files/Sample/00_View000/View000_0000006.pts
    seed msa "$data"/msa_files/*.msa
    local rpl
    for rpl in "$data"/ripple_files/*.rpl; do pair ripple_pair "$rpl" "${rpl%.rpl}.raw"; done
    seed pth "$fixtures"/weights/*.pth
    seed safetensors "$fixtures"/weights/*.safetensors
    seed npy tests/fixtures/encoders/mobilenet_v2.npy tests/fixtures/dense/mobilenet_v2_features.13_x1.npy
    "$CARGO_TARGET_DIR/debug/chipscope" simulate --frames 3 --size 64 --out "$scratch/movie.tif" >/dev/null
    seed series "$scratch/movie.tif" "$fixtures"/mrc/stack.mrcs "$data"/tiff_files/*stack*.tif \
        "$data"/dm_stackbuilder_plugin/test_stackbuilder_imagestack.dm3 \
        "$data"/emd_files/example_signal.emd "$data"/emd_files/fei_example_tem_stack.emd \
        "$data"/FEI_old/64x64x5_TEM_preview_1.ser
    seed open "$scratch/example.tif" "$seeds"/{dm,tia,mrc,bcf,msa}/*
    python3 scripts/fuzz_seeds.py tests/fixtures/dense/example_per_chip_v4_session.json "$seeds"
    mkdir -p "$seeds/share_link"
    "$CARGO_TARGET_DIR/debug/chipscope" link tests/fixtures/dense/example_per_chip_v4_session.json \
        > "$scratch/link"
    "$CARGO_TARGET_DIR/debug/chipscope" link --task "$seeds/session/task.json" >> "$scratch/link"
    grep '#session=' "$scratch/link" > "$seeds/share_link/example"
    grep '#task=' "$scratch/link" > "$seeds/share_link/task"
    rm -rf "$scratch"
}
make_seeds

mkdir -p "$FUZZ/logs"
printf '%-14s %12s %9s %7s %7s %s\n' target executions exec/s edges corpus findings
for target in "${targets[@]}"; do
    mkdir -p "$FUZZ/corpus/$target" "$FUZZ/artifacts/$target"
    log="$FUZZ/logs/$target.log"
    started="$FUZZ/artifacts/$target.started"
    touch "$started"
    # -timeout: a hang (--timeout); -rss_limit_mb: > 2 GB is running out of memory;
    # -max_len: the longest seed (libFuzzer would cut inputs at 1 MB, and the readers of real
    # files cut short stop at their first check).
    longest=$(find "$seeds/$target" -type f -printf '%s\n' | sort -n | tail -1)
    max_len=$(( ${longest:-0} > 4096 ? longest : 4096 ))
    "$bin/$target" "$FUZZ/corpus/$target" "$seeds/$target" "${limit[@]}" -timeout="$timeout" \
        -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
        -artifact_prefix="$FUZZ/artifacts/$target/" > "$log" 2>&1 || true
    # Keep the corpus minimal: only inputs that add coverage (libFuzzer's merge).
    rm -rf "$FUZZ/corpus/$target.min" && mkdir "$FUZZ/corpus/$target.min"
    if "$bin/$target" -merge=1 -timeout="$timeout" -rss_limit_mb=2048 -max_len="$max_len" \
        "$FUZZ/corpus/$target.min" "$FUZZ/corpus/$target" >/dev/null 2>&1; then
        rm -rf "$FUZZ/corpus/$target" && mv "$FUZZ/corpus/$target.min" "$FUZZ/corpus/$target"
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
    corpus=$(find "$FUZZ/corpus/$target" -type f | wc -l)
    findings=$(find "$FUZZ/artifacts/$target" -type f -newer "$started" | wc -l)
    printf '%-14s %12s %9s %7s %7s %s\n' "$target" "$runs" "$speed" "$edges" "$corpus" "$findings"
done
