#!/usr/bin/env bash
# Minimize the kept fuzz corpus (fuzz/corpus/<target>) to the inputs that add libFuzzer coverage
# features, then check that the minimized corpus still reaches everything the old one reached.
# See fuzz/README.md.
#
#   fuzz/cmin.sh [target...]        (default: every target in fuzz/Cargo.toml)
#   npm run fuzz:cmin -- [target...]
#
# Environment:
#   FUZZ_SECONDS=N            fuzz each target N seconds first (new inputs land in its corpus), then
#                             minimize. A crash stops the script; see fuzz/README.md for what to do.
#   FUZZ_SOURCE_COVERAGE=1    also compare source-based coverage (covered lines, from `cargo fuzz
#                             coverage` + llvm-cov) before/after. Needs rustup's llvm-tools component
#                             for the active toolchain; a slow extra build (~8 min the first time).
#
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc and cargo accept the nightly-only
# flags cargo-fuzz passes (-Zsanitizer=address, -Cpasses=sancov-module, ...). See the README's caveat.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
export RUSTC_BOOTSTRAP=1
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="fuzz/target/$host/release"

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io)"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Per-function covered-edge counts (libFuzzer's -print_coverage) of one corpus, over 3 runs:
# "<function>\t<min over runs>\t<max over runs>". Several runs because a few edges (thread
# scheduling in the parallel decoders, randomly seeded hashing) differ from run to run.
function_edges() {
    local target="$1" dir="$2" out="$3"
    for run in 1 2 3; do
        "$bin_dir/$target" -runs=0 -print_coverage=1 "$dir" 2>&1 \
            | sed -nE 's/^(UN)?COVERED_FUNC: hits: [0-9]+ edges: ([0-9]+)\/[0-9]+ (.*)$/\3\t\2/p' \
            | awk -F'\t' -v run="$run" '{ n[$1] += $2 } END { for (f in n) print run "\t" f "\t" n[f] }'
    done | awk -F'\t' '{ k = $2; if (!(k in lo) || $3 < lo[k]) lo[k] = $3; if ($3 > hi[k]) hi[k] = $3 }
                      END { for (k in lo) print k "\t" lo[k] "\t" hi[k] }' | sort >"$out"
}

# libFuzzer's own summary of a corpus: "cov: <edges> ft: <features>" after loading it.
summary() {
    "$bin_dir/$1" -runs=0 "$2" 2>&1 | sed -nE 's/.*INITED (cov: [0-9]+ ft: [0-9]+).*/\1/p'
}

corpus_size() {
    echo "$(find "$1" -type f | wc -l) files, $(cat "$1"/* | wc -c) bytes"
}

# Covered source lines ("file:line") of a corpus, from cargo fuzz coverage + llvm-cov.
covered_lines() {
    local target="$1" dir="$2" out="$3" llvm_cov
    llvm_cov="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-cov"
    cargo fuzz coverage -O "$target" "$dir" >"$work/coverage-$target.log" 2>&1
    "$llvm_cov" export -format=lcov "target/$host/coverage/$host/release/$target" \
        -instr-profile="fuzz/coverage/$target/coverage.profdata" --ignore-filename-regex='(\.cargo|rustc)/' \
        | awk -F'[:,]' '/^SF:/ { f = $2 } /^DA:/ { if ($3 > 0) print f ":" $2 }' | sort >"$out"
}

status=0
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    if [[ -n "${FUZZ_SECONDS:-}" ]]; then
        echo "== $t: fuzzing ${FUZZ_SECONDS}s"
        seeds=("$corpus")
        [[ -d "fuzz/regressions/$t" ]] && seeds+=("fuzz/regressions/$t")
        if ! cargo fuzz run -O "$t" "${seeds[@]}" -- -max_total_time="$FUZZ_SECONDS" >"$work/run-$t.log" 2>&1; then
            mkdir -p "fuzz/artifacts/$t" && cp "$work/run-$t.log" "fuzz/artifacts/$t/run.log"
            grep -E -A2 "panicked at|ERROR: libFuzzer" "$work/run-$t.log" >&2 || true
            grep -E "Test unit written" "$work/run-$t.log" >&2 || true
            echo "$t crashed: the input is in fuzz/artifacts/$t/ (see fuzz/README.md, 'A crash')" >&2
            exit 1
        fi
        grep -E "^Done" "$work/run-$t.log" || true
    fi

    echo "== $t: minimizing ($(corpus_size "$corpus"))"
    rm -rf "$work/before-$t"
    cp -r "$corpus" "$work/before-$t"
    cargo fuzz cmin -O "$t" -- -set_cover_merge=1 >"$work/cmin-$t.log" 2>&1
    # libFuzzer's merge survives an input that crashes or times out by restarting without it, so
    # such an input would silently leave the corpus: refuse and put the old corpus back.
    if grep -q "MERGE-OUTER: attempt [2-9]" "$work/cmin-$t.log"; then
        rm -rf "$corpus" && cp -r "$work/before-$t" "$corpus"
        mkdir -p "fuzz/artifacts/$t" && cp "$work/cmin-$t.log" "fuzz/artifacts/$t/cmin.log"
        echo "$t: an input crashed or hung during the merge; corpus left as it was." >&2
        echo "   Whole log: fuzz/artifacts/$t/cmin.log. Excerpt:" >&2
        grep -E -A2 "panicked at|ERROR: libFuzzer" "$work/cmin-$t.log" >&2 || true
        status=1
        continue
    fi
    grep -E "MERGE-OUTER: [0-9]+ new files" "$work/cmin-$t.log" || true
    echo "   kept $(corpus_size "$corpus")"

    echo "== $t: checking coverage"
    echo "   before: $(summary "$t" "$work/before-$t")   after: $(summary "$t" "$corpus")  (libFuzzer, one run each)"
    function_edges "$t" "$work/before-$t" "$work/edges-before-$t"
    function_edges "$t" "$corpus" "$work/edges-after-$t"
    # Lost: a function whose edges, at best over the runs on the minimized corpus, fall below what
    # the old corpus reached in every run. Anything less is run-to-run noise, printed for the record.
    lost="$(join -t $'\t' -a1 -e0 -o 0,1.2,1.3,2.2,2.3 "$work/edges-before-$t" "$work/edges-after-$t" \
        | awk -F'\t' '$5 < $2 { print "   LOST  " $1 ": edges before " $2 "-" $3 ", after " $4 "-" $5 }
                      $5 >= $2 && $5 < $3 { print "   noise " $1 ": edges before " $2 "-" $3 ", after " $4 "-" $5 > "/dev/stderr" }')"
    if [[ -n "$lost" ]]; then
        echo "$lost" >&2
        echo "$t: the minimized corpus covers less; the old one is in fuzz/corpus/$t.before" >&2
        cp -r "$work/before-$t" "$corpus.before"
        status=1
    else
        echo "   every function reaches as many edges as before ($(wc -l <"$work/edges-before-$t") functions compared)"
    fi

    if [[ "${FUZZ_SOURCE_COVERAGE:-}" == 1 ]]; then
        covered_lines "$t" "$work/before-$t" "$work/lines-before-$t"
        covered_lines "$t" "$corpus" "$work/lines-after-$t"
        only_before="$(comm -23 "$work/lines-before-$t" "$work/lines-after-$t")"
        echo "   source lines covered: before $(wc -l <"$work/lines-before-$t"), after $(wc -l <"$work/lines-after-$t")"
        if [[ -n "$only_before" ]]; then
            echo "$t: lines no longer covered:" >&2
            echo "$only_before" >&2
            status=1
        fi
    fi
done
exit "$status"
