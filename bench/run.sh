#!/usr/bin/env bash
# Benchmarks of omni-launch against the bare commands, in the same run.
# Prints a Markdown table (the README's Performance section).
# Needs: a release build, hyperfine, GNU time (/usr/bin/time), python3;
# the upload benchmark also needs the test stores (. .ci/stores.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-target/release/omni-launch}
[ -x "$BIN" ] || cargo build --release
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)"; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)"; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
WORK="$TMP/work"
mkdir -p "$WORK"

median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$@"; }
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f"{b/a:.2f}")' "$1" "$2"; }
ms() { python3 -c 'import sys; print(f"{float(sys.argv[1])*1000:.2f} ms")' "$1"; }
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rows=()

echo "== start-up overhead: echo_test vs sh -c" >&2
echo '{"text": "hello world"}' > "$TMP/echo.json.in"
hyperfine -N --warmup 20 --runs 200 --export-json "$TMP/echo.json" \
  "sh -c \"printf '%s\\\\n' 'hello world'\"" \
  "/bin/true" \
  "$BIN run --spec tool-specs/echo_test.yaml --inputs @$TMP/echo.json.in --workdir $WORK" >&2
bare=$(median "$TMP/echo.json" 0); exec_cost=$(median "$TMP/echo.json" 1); ours=$(median "$TMP/echo.json" 2)
overhead=$(python3 -c "print(f'{($ours-$bare)*1000:.2f} ms')")
rss=$(peak_kib "$BIN" run --spec tool-specs/echo_test.yaml --inputs '{"text":"x"}' --workdir "$WORK")
rows+=("| echo_test run, median | $(ms "$bare") | $(ms "$ours") (overhead $overhead) | $(ratio "$bare" "$ours") |")
rows+=("| \`/bin/true\` (the cost of starting any program here) | $(ms "$exec_cost") | | |")
rows+=("| echo_test run, peak RSS of the launcher | | $((rss / 1024)) MiB ($rss KiB) | |")

echo "== validating 1,000 specs" >&2
mkdir -p "$TMP/specs"
for i in $(seq 1 1000); do sed "s/^id: blastn/id: blastn-$i/" tool-specs/blastn.yaml > "$TMP/specs/blastn-$i.yaml"; done
hyperfine -N --warmup 2 --runs 10 --export-json "$TMP/validate.json" \
  "$BIN validate $(ls "$TMP"/specs/*.yaml | tr '\n' ' ')" >&2
v=$(median "$TMP/validate.json" 0)
rows+=("| validate 1,000 specs | | $(ms "$v") | |")

echo "== 1 GiB of stdout: captured vs cmd | cat > file" >&2
# Both write a new file each run, with the previous one removed and synced
# away first, so neither pays for the other's writeback.
hyperfine --warmup 1 --runs 5 --export-json "$TMP/stdout.json" \
  --prepare "rm -rf $WORK/* $TMP/bare.out; sync" \
  "head -c 1024M /dev/zero | cat > $TMP/bare.out" \
  "$BIN run --spec fixtures/specs/run/big_stdout.yaml --inputs '{\"mib\": 1024}' --workdir $WORK 2>/dev/null >/dev/null" >&2
bare=$(median "$TMP/stdout.json" 0); ours=$(median "$TMP/stdout.json" 1)
thr=$(python3 -c "print(f'{$bare/$ours*100:.0f} %')")
rss=$(peak_kib sh -c "$BIN run --spec fixtures/specs/run/big_stdout.yaml --inputs '{\"mib\": 1024}' --workdir $WORK 2>/dev/null")
rows+=("| 1 GiB stdout capture (throughput vs \`cmd \\| cat > file\`) | $(ms "$bare") | $(ms "$ours"), $thr of bare throughput | $(ratio "$bare" "$ours") |")
rows+=("| 1 GiB stdout capture, peak RSS of the launcher | | $((rss / 1024)) MiB | |")
rm -rf "${WORK:?}"/*

if [ -n "${OMNI_TEST_S3_ENDPOINT:-}" ]; then
  echo "== 1 GiB upload to the local S3 server vs boto3 upload_file" >&2
  PY=.ci/.venv/bin/python
  curl -s -X PUT "$OMNI_TEST_S3_ENDPOINT/bench" -o /dev/null
  head -c 1024M /dev/urandom > "$TMP/big.bin"
  # Two rounds, alternating; the faster of each (moto's own speed varies).
  boto=999999; ours=999999; rss=0
  for round in 1 2; do
    t=$("$PY" bench/upload_boto3.py "$OMNI_TEST_S3_ENDPOINT" bench "boto/$round.bin" "$TMP/big.bin")
    boto=$(python3 -c "print(min($boto, $t))")
    start=$(date +%s.%N)
    r=$(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$OMNI_TEST_S3_ENDPOINT" \
      /usr/bin/time -f %M "$BIN" run --spec fixtures/specs/run/link_file.yaml --inputs "{\"f\": \"$TMP/big.bin\"}" \
      --result-uri "s3://bench/omni/$round/" --workdir "$WORK" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    ours=$(python3 -c "print(min($ours, $end - $start))")
    rss=$(( r > rss ? r : rss ))
  done
  rows+=("| 1 GiB output upload to moto (run incl. sha1), vs boto3 \`upload_file\` | $(ms "$boto") | $(ms "$ours"), $(python3 -c "print(f'{$boto/$ours*100:.0f} %')") of boto3's throughput | $(ratio "$boto" "$ours") |")
  rows+=("| 1 GiB upload, peak RSS of the launcher | | $((rss / 1024)) MiB | |")
else
  echo "(upload benchmark skipped: OMNI_TEST_S3_ENDPOINT is not set; . .ci/stores.sh)" >&2
fi

if [ -n "${OMNI_TEST_IMAGE:-}" ] && docker version >/dev/null 2>&1; then
  echo "== container run: echo_test with --runner docker vs docker run --rm" >&2
  # The same command, image, network and init as the runner uses.
  hyperfine -N --warmup 3 --runs 30 --export-json "$TMP/docker.json" \
    "docker run --rm --init --network none --entrypoint /bin/sh $OMNI_TEST_IMAGE -c \"printf '%s\\\\n' 'hello world'\"" \
    "$BIN run --spec tool-specs/echo_test.yaml --inputs @$TMP/echo.json.in --workdir $WORK --runner docker --image $OMNI_TEST_IMAGE" >&2
  bare=$(median "$TMP/docker.json" 0); ours=$(median "$TMP/docker.json" 1)
  overhead=$(python3 -c "print(f'{($ours-$bare)*1000:.2f} ms')")
  rows+=("| echo_test in a container, median, vs \`docker run --rm\` | $(ms "$bare") | $(ms "$ours") (overhead $overhead) | $(ratio "$bare" "$ours") |")
else
  echo "(container benchmark skipped: needs docker and OMNI_TEST_IMAGE; . .ci/containers.sh)" >&2
fi

echo "| what | bare | omni-launch | ratio |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
