#!/usr/bin/env bash
# The same bits on another architecture: cross-builds for aarch64 (where every kernel is the
# portable one) and runs the golden-file and kernel-independence tests, and the library's unit
# tests, under qemu-user. Installs the cross toolchain (Debian: gcc-aarch64-linux-gnu,
# qemu-user; rustup: the aarch64 standard library) when missing. Slow: about 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null ||
  apt-get install -y gcc-aarch64-linux-gnu qemu-user
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
t=aarch64-unknown-linux-gnu
cargo test --release --target $t --test it -- golden output_is_independent_of_the_kernel
cargo test --release --target $t --lib
