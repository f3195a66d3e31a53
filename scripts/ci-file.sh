#!/usr/bin/env bash
# Every level on the CI file (the last 1,000,000 bytes of the corpus's first 3 MB of enwik8: a
# validation split, never trained on) beside the references, in one run: the README's levels
# table. Usage: [RESULTS=bench/results/ci-file.csv] [PAQ8PX=1] scripts/ci-file.sh [s2s2s binary]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
f=target/bench/enwik8_val_1M
[ -s "$f" ] || xz -dc ../shared/corpus/enwik8_head3M.xz | tail -c 1000000 > "$f"
DATA=validation FILES=$f LEVELS=${LEVELS:-1 2 3 4 5 6 7 8 9} scripts/heldout-bench.sh "$@"
