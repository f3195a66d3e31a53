# Sourced by the benchmark scripts (after setting `bin`): writes the validation split of
# ../shared/corpus (text no shipped network was trained on) to target/heldout/val, and one copy
# of each source to target/heldout/files, listed in `files`. SOURCES="code_c prose_..." picks
# sources (default: all); HEAD=100000 cuts each file.
out=target/heldout
mkdir -p "$out/val" "$out/files"
"$bin" validation-split --corpus ../shared/corpus -o "$out/val" -q
files=()
for v in "$out"/val/*.val; do
  s=$(basename "$v" .val)
  if [ -n "${SOURCES:-}" ] && [[ " $SOURCES " != *" $s "* ]]; then continue; fi
  if [ -n "${HEAD:-}" ]; then head -c "$HEAD" "$v" > "$out/files/$s"; else cp "$v" "$out/files/$s"; fi
  files+=("$out/files/$s")
done
