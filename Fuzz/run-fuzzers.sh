#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer in .build-fuzz and runs each from its seed corpus.
#
#   Fuzz/run-fuzzers.sh RUNS [TARGET...]     # every target when none is named
#
# FUZZ_JOBS targets run at once (default: the number of cores). New inputs go to a temporary directory (the
# committed seeds in Fuzz/Corpus/<target>/ are only read); a crashing input is saved as
# .build-fuzz/findings/<target>/crash-<sha1>. Exits non-zero when a target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:?usage: Fuzz/run-fuzzers.sh RUNS [TARGET...]}"
shift
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    # The slowest first, so that the others share the second core meanwhile.
    targets=(coordinator_state control_request worker_report worker_command control_reply envelope_header
        event_batch wire_event json_value)
fi
swift="${SWIFT:-swift}"
jobs="${FUZZ_JOBS:-$(nproc)}"
scratch=.build-fuzz
work="$(mktemp -d "${TMPDIR:-/tmp}/flowpool-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# SwiftPM's `--sanitize fuzzer` links libFuzzer's main; the frontend keeps only the last `-sanitize=` it is
# given, so coverage and AddressSanitizer are asked for together, last. The linker's notes about ASan's local
# symbols are noise.
build=("$swift" build --package-path Fuzz --scratch-path "$scratch" --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)
echo "== building fuzz targets: ${build[*]}"
start=$SECONDS
if ! "${build[@]}" >"$work/build.log" 2>&1; then
    grep -v "ld.gold: warning: Cannot export local symbol" "$work/build.log" >&2
    echo "error: the fuzz targets did not build" >&2
    exit 1
fi
grep -v "ld.gold: warning: Cannot export local symbol" "$work/build.log" | tail -n 1
echo "== built in $((SECONDS - start)) s"
bin="$("$swift" build --package-path Fuzz --scratch-path "$scratch" --show-bin-path)"

# Runs one target; writes its summary line to $work/<target>.summary and fails when it crashed.
fuzz() {
    local target="$1"
    local findings="$scratch/findings/$target"
    local log="$work/$target.log"
    mkdir -p "$findings" "$work/$target"
    # -timeout: an input that takes this long is a hang; -detect_leaks: Swift's runtime keeps caches for good.
    local options=(-runs="$runs" -timeout=10 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$findings/")
    # The decoders' targets read JSON: they get its tokens and the protocol's names as a dictionary. The state
    # machine's target reads at most 64 steps of a few bytes each: longer inputs only cost time.
    if [ "$target" = coordinator_state ]; then
        options+=(-max_len=512)
    else
        options+=(-dict=Fuzz/flowpool.dict)
    fi
    local start=$SECONDS status=0
    # Swift's own backtracer is off: libFuzzer and ASan report the trap, with the stack. Short allocation
    # stacks make ASan a quarter faster (replay a crash with ASAN_OPTIONS= for full ones).
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS-malloc_context_size=5:detect_stack_use_after_return=0}" \
        "$bin/$target" "${options[@]}" "$work/$target" "Fuzz/Corpus/$target" >"$log" 2>&1 || status=$?
    local elapsed=$((SECONDS - start))
    local done_line corpus
    done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)"
    corpus="$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)"
    if [ "$status" -ne 0 ]; then
        echo "$target: CRASHED after $elapsed s (exit $status); input in $findings/" >"$work/$target.summary"
        {
            echo "== $target crashed:"
            grep -vE '^#[0-9]+|^INFO:|Uses: [0-9]+' "$log" | tail -n 80
        } >&2
        return 1
    fi
    echo "$target: ${done_line:-no summary} (${corpus:-corp: ?}, $elapsed s)" >"$work/$target.summary"
    echo "== $target: ${done_line:-done}"
}

echo "== fuzzing ${#targets[@]} targets for $runs runs each, $jobs at a time"
start=$SECONDS
failed=0
running=0
for target in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    fuzz "$target" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done

echo "== summary ($((SECONDS - start)) s)"
for target in "${targets[@]}"; do cat "$work/$target.summary"; done
if [ "$failed" -ne 0 ]; then
    echo "error: a target crashed (print an input's frames with: python3 Fuzz/corpus.py frames FILE)" >&2
    exit 1
fi
