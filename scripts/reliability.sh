#!/usr/bin/env bash
# Reproduces the figures in RELIABILITY.md: fuzzing, peak memory by input size, bit flips.
# Usage: scripts/reliability.sh [seconds per fuzz target, default 600]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
out=target/reliability
mkdir -p "$out"

# 1. Fuzzing (cargo-fuzz; the stable toolchain is allowed nightly flags by RUSTC_BOOTSTRAP).
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
for t in container decompress roundtrip; do
  mkdir -p "fuzz/corpus/$t"
  if [ "$t" != roundtrip ]; then
    for f in tests/golden/v*/*.s2s; do cp "$f" "fuzz/corpus/$t/$(basename "$(dirname "$f")")-$(basename "$f")"; done
  fi
  cargo fuzz run -s none "$t" -- -max_total_time="$secs" -max_len=8192 -rss_limit_mb=2048 -timeout=60 \
    2>&1 | tee "$out/fuzz-$t.log" | grep -E "^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|SUMMARY|panicked|crash-" || true
done

# The round trip once more under AddressSanitizer: it runs the SIMD kernels (the only unsafe
# code) on every layout the fuzzer finds. cc-rs passes the sanitizer on to the C code it builds
# (zstd) with gcc, whose instrumentation does not match LLVM's runtime and reports false
# stack-use-after-scope errors inside zstd; CFLAGS keeps the C code uninstrumented.
CFLAGS=-fno-sanitize=address cargo fuzz run -s address roundtrip -- -max_total_time="$secs" -max_len=8192 -rss_limit_mb=4096 -timeout=60 \
  2>&1 | tee "$out/fuzz-roundtrip-asan.log" | grep -E "^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|SUMMARY|ERROR: AddressSanitizer|panicked|crash-" || true

# 2. Peak memory by input size (GNU time's maximum resident set size), built-in model.
cargo build --release -q
bin=./target/release/s2s2s
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
truncate -s 4G "$out/sparse-4G"
printf 'sparse 4 GiB     compress %s KiB\n' "$(peak $bin compress -f -T2 -o "$out/sparse.s2s" "$out/sparse-4G")"
printf 'sparse 4 GiB     decompress %s KiB\n' "$(peak $bin decompress -c -T2 "$out/sparse.s2s")"
rm -f "$out/sparse-4G"
xz -dc ../shared/corpus/enwik8_head3M.xz | tail -c 1000000 > "$out/enwik8_val_1M"
for n in 100000 1000000; do
  head -c $n "$out/enwik8_val_1M" > "$out/text-$n"
  printf 'text %-9s   compress %s KiB\n' "$n" "$(peak $bin compress -f -T2 -o "$out/text-$n.s2s" "$out/text-$n")"
  printf 'text %-9s   decompress %s KiB\n' "$n" "$(peak $bin decompress -c -T2 "$out/text-$n.s2s")"
done

# 3. Hostile headers: a frame header alone, and a frame claiming 1 TB with no blocks.
$bin compress -f -o "$out/one.s2s" "$out/text-100000"
python3 - "$out" <<'PY'
import struct, sys, zlib
out = sys.argv[1]
frame = bytearray(open(f"{out}/one.s2s", "rb").read()[:26])
frame[22:26] = struct.pack("<I", 1 << 24)
frame += struct.pack("<I", zlib.crc32(bytes(frame)))
end = b"\x00" + struct.pack("<QI", 1 << 40, 0)
open(f"{out}/header-only.s2s", "wb").write(bytes(frame))
open(f"{out}/claims-1TB.s2s", "wb").write(bytes(frame) + end + struct.pack("<I", zlib.crc32(end)))
PY
for f in header-only claims-1TB; do
  /usr/bin/time -f "$f: %e s, %M KiB" $bin test "$out/$f.s2s" 2>&1 | tail -2 || true
done
# Model work per neural block when decoded alone (bounds what a crafted header can demand).
head -c 16000 "$out/text-100000" > "$out/one-block"
$bin compress -f -T1 -o "$out/one-block.s2s" "$out/one-block"
$bin info "$out/one-block.s2s" | grep -E "blocks|tokens  "
/usr/bin/time -f "one block, one thread: %e s" $bin decompress -c -T1 "$out/one-block.s2s" 2>&1 >/dev/null | tail -1

# 4. Single-bit flips: every bit of a multi-frame, multi-method container.
cargo test --release -q --test it reliability::every_single_bit_flip_is_detected -- --nocapture 2>&1 | grep -E "flips|test result"
