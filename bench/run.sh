#!/usr/bin/env bash
# Benchmarks of omni-launch against the bare commands, in the same run.
# Prints a Markdown table (the README's Performance section).
# Needs: hyperfine, GNU time (/usr/bin/time), python3; the upload
# benchmark also needs the test stores (. .ci/stores.sh). Measures the
# static release binary, as shipped (.cargo/static.toml), unless BIN says
# otherwise. BENCH_ONLY=local: only the rows that need no store.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${BIN:-}" ]; then
  target=$(rustc -vV | sed -n 's/^host: //p')
  cargo build --release --locked --config .cargo/static.toml --target "$target"
  BIN=target/$target/release/omni-launch
fi
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
# Interleaved rounds, 400 of each: this machine's speed drifts. With
# BENCH_BASELINE=another/omni-launch (an earlier build), that one too. Once
# with the work directory on the disk's file system, once on tmpfs
# (/dev/shm), where creating the run's two folders and three files costs
# nothing (on ext4 it costs more right after many files were deleted).
startup() { # WORKDIR LABEL
  local work=$1 label=$2 baseline=()
  [ -n "${BENCH_BASELINE:-}" ] && baseline=("$BENCH_BASELINE run --spec tool-specs/echo_test.yaml --inputs @$TMP/echo.json.in --workdir $work")
  mapfile -t echo_medians < <(python3 bench/interleaved.py 400 \
    "sh -c \"printf '%s\\\\n' 'hello world'\"" \
    "/bin/true" \
    "$BIN run --spec tool-specs/echo_test.yaml --inputs @$TMP/echo.json.in --workdir $work" \
    "${baseline[@]}")
  local bare=${echo_medians[0]} exec_cost=${echo_medians[1]} ours=${echo_medians[2]}
  local overhead
  overhead=$(python3 -c "print(f'{($ours-$bare)*1000:.2f} ms')")
  rows+=("| echo_test run, median (work directory on $label) | $(ms "$bare") | $(ms "$ours") (overhead $overhead) | $(ratio "$bare" "$ours") |")
  if [ -n "${BENCH_BASELINE:-}" ]; then
    local theirs=${echo_medians[3]}
    rows+=("| the same, baseline build ($BENCH_BASELINE) | $(ms "$bare") | $(ms "$theirs") (overhead $(python3 -c "print(f'{($theirs-$bare)*1000:.2f} ms')")) | $(ratio "$bare" "$theirs") |")
  fi
  rows+=("| \`/bin/true\` (the cost of starting any program here) | $(ms "$exec_cost") | | |")
}
startup "$WORK" "$(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo disk)"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  SHM=$(mktemp -d /dev/shm/omni-bench.XXXXXX)
  trap 'rm -rf "$TMP" "$SHM"' EXIT
  startup "$SHM" tmpfs
fi
rss=$(peak_kib "$BIN" run --spec tool-specs/echo_test.yaml --inputs '{"text":"x"}' --workdir "$WORK")
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

if [ "${BENCH_ONLY:-}" = local ]; then
  echo "| what | bare | omni-launch | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  exit 0
fi

# The S3 server: BENCH_S3_ENDPOINT (named BENCH_S3_NAME, e.g. s3s-fs run as
# `s3s-fs --host 127.0.0.1 --access-key test --secret-key test DIR`), else
# the test stores' moto. Credentials test/test, as both use.
S3=${BENCH_S3_ENDPOINT:-${OMNI_TEST_S3_ENDPOINT:-}}
S3_NAME=${BENCH_S3_NAME:-moto}
PY=${BENCH_PYTHON:-.ci/.venv/bin/python}
if [ -n "$S3" ]; then
  echo "== 1 GiB upload to $S3_NAME vs boto3 upload_file" >&2
  "$PY" -c 'import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
try:
    s3.create_bucket(Bucket="bench")
except s3.exceptions.ClientError:
    pass' "$S3"
  head -c 1024M /dev/urandom > "$TMP/big.bin"
  # Two rounds, alternating; the faster of each (the server's own speed varies).
  boto=999999; ours=999999; rss=0
  for round in 1 2; do
    t=$("$PY" bench/boto3_transfer.py upload "$S3" bench "boto/$round.bin" "$TMP/big.bin")
    boto=$(python3 -c "print(min($boto, $t))")
    start=$(date +%s.%N)
    r=$(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$S3" \
      /usr/bin/time -f %M "$BIN" run --spec fixtures/specs/run/link_file.yaml --inputs "{\"f\": \"$TMP/big.bin\"}" \
      --no-input-checksums --result-uri "s3://bench/omni/$$-$round/" --workdir "$WORK" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    ours=$(python3 -c "print(min($ours, $end - $start))")
    rss=$(( r > rss ? r : rss ))
  done
  rows+=("| 1 GiB output upload to $S3_NAME (run incl. sha1 + sha256 of the output), vs boto3 \`upload_file\` | $(ms "$boto") | $(ms "$ours"), $(python3 -c "print(f'{$boto/$ours*100:.0f} %')") of boto3's throughput | $(ratio "$boto" "$ours") |")
  rows+=("| 1 GiB upload, peak RSS of the launcher | | $((rss / 1024)) MiB | |")

  echo "== staging 1 GiB and 2,000 x 64 KiB from the local S3 server vs boto3" >&2
  printf 'id: stage_only\ninputs:\n  f: {type: File}\ncommand: "true"\noutputs: {}\n' > "$TMP/stage_file.yaml"
  printf 'id: stage_dir\ninputs:\n  d: {type: Directory}\ncommand: "true"\noutputs: {}\n' > "$TMP/stage_dir.yaml"
  mkdir -p "$TMP/small"
  for i in $(seq 1 2000); do head -c 65536 /dev/urandom > "$TMP/small/f-$i.bin"; done
  "$PY" - "$S3" "$TMP/small" <<'PYEOF'
import concurrent.futures, os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
names = os.listdir(sys.argv[2])
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda n: s3.upload_file(os.path.join(sys.argv[2], n), "bench", "small/" + n), names))
PYEOF
  s3env=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$S3")
  boto_big=999999; ours_big=999999; boto_many=999999; ours_many=999999; rss=0
  for round in 1 2; do
    rm -f "$TMP/down.bin"; rm -rf "$TMP/down" "${WORK:?}"/*
    t=$("$PY" bench/boto3_transfer.py download "$S3" bench boto/1.bin "$TMP/down.bin")
    boto_big=$(python3 -c "print(min($boto_big, $t))")
    start=$(date +%s.%N)
    r=$(env "${s3env[@]}" /usr/bin/time -f %M "$BIN" run --spec "$TMP/stage_file.yaml" \
      --inputs '{"f": "s3://bench/boto/1.bin"}' --workdir "$WORK" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    ours_big=$(python3 -c "print(min($ours_big, $end - $start))")
    rss=$(( r > rss ? r : rss ))
    rm -rf "${WORK:?}"/*
    t=$("$PY" bench/boto3_transfer.py download-many "$S3" bench small/ "$TMP/down")
    boto_many=$(python3 -c "print(min($boto_many, $t))")
    start=$(date +%s.%N)
    env "${s3env[@]}" "$BIN" run --spec "$TMP/stage_dir.yaml" --inputs '{"d": "s3://bench/small"}' \
      --workdir "$WORK" >/dev/null 2>&1
    end=$(date +%s.%N)
    ours_many=$(python3 -c "print(min($ours_many, $end - $start))")
  done
  rows+=("| staging a 1 GiB input from $S3_NAME (incl. sha1 + sha256), vs boto3 \`download_file\` (4 threads) | $(ms "$boto_big") | $(ms "$ours_big"), $(python3 -c "print(f'{$boto_big/$ours_big*100:.0f} %')") of boto3's throughput | $(ratio "$boto_big" "$ours_big") |")
  rows+=("| staging 1 GiB, peak RSS of the launcher | | $((rss / 1024)) MiB | |")
  rows+=("| staging a folder of 2,000 x 64 KiB from $S3_NAME, vs boto3 in 8 threads | $(ms "$boto_many") | $(ms "$ours_many"), $(python3 -c "print(f'{$boto_many/$ours_many*100:.0f} %')") of boto3's throughput | $(ratio "$boto_many" "$ours_many") |")

  echo "== 4 x 300 MiB outputs up, 4 x 256 MiB inputs down, vs boto3 with 4 files at once" >&2
  mkdir -p "$TMP/four"
  for i in 1 2 3 4; do head -c 300M /dev/urandom > "$TMP/four/part-$i.bin"; done
  printf 'id: link_many\ninputs:\n  fs: {type: "File[]"}\ncommand: for f in {{ fs }}; do ln "$f" .; done\noutputs:\n  parts: {type: "File[]", glob: "*.bin"}\n' > "$TMP/link_many.yaml"
  printf 'id: stage_many\ninputs:\n  fs: {type: "File[]"}\ncommand: "true"\noutputs: {}\n' > "$TMP/stage_many.yaml"
  four=$(python3 -c "import json,sys; print(json.dumps({'fs': [f'{sys.argv[1]}/part-{i}.bin' for i in range(1, 5)]}))" "$TMP/four")
  quarter=$(python3 -c "import json; print(json.dumps({'fs': [f's3://bench/quarter/q-{i}.bin' for i in range(1, 5)]}))")
  for i in 1 2 3 4; do head -c 256M /dev/urandom > "$TMP/q.bin"; "$PY" bench/boto3_transfer.py upload "$S3" bench "quarter/q-$i.bin" "$TMP/q.bin" >/dev/null; done
  rm -f "$TMP/q.bin"
  boto_up=999999; ours_up=999999; boto_down=999999; ours_down=999999; rss_up=0; rss_down=0
  for round in 1 2; do
    rm -rf "${WORK:?}"/* "$TMP/down4"
    t=$("$PY" bench/boto3_transfer.py upload-each "$S3" bench "boto4/$round/" "$TMP/four")
    boto_up=$(python3 -c "print(min($boto_up, $t))")
    start=$(date +%s.%N)
    r=$(env "${s3env[@]}" /usr/bin/time -f %M "$BIN" run --spec "$TMP/link_many.yaml" --inputs "$four" \
      --no-input-checksums --result-uri "s3://bench/omni4/$$-$round/" --workdir "$WORK" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    ours_up=$(python3 -c "print(min($ours_up, $end - $start))")
    rss_up=$(( r > rss_up ? r : rss_up ))
    t=$("$PY" bench/boto3_transfer.py download-each "$S3" bench quarter/ "$TMP/down4")
    boto_down=$(python3 -c "print(min($boto_down, $t))")
    rm -rf "${WORK:?}"/*
    start=$(date +%s.%N)
    r=$(env "${s3env[@]}" /usr/bin/time -f %M "$BIN" run --spec "$TMP/stage_many.yaml" --inputs "$quarter" \
      --workdir "$WORK" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    ours_down=$(python3 -c "print(min($ours_down, $end - $start))")
    rss_down=$(( r > rss_down ? r : rss_down ))
  done
  rm -rf "$TMP/four" "$TMP/down4"
  rows+=("| 4 x 300 MiB outputs to $S3_NAME (run incl. sha1 + sha256), vs boto3 \`upload_file\` 4 at a time | $(ms "$boto_up") | $(ms "$ours_up"), $(python3 -c "print(f'{$boto_up/$ours_up*100:.0f} %')") of boto3's throughput | $(ratio "$boto_up" "$ours_up") |")
  rows+=("| 4 x 300 MiB upload, peak RSS of the launcher | | $((rss_up / 1024)) MiB | |")
  rows+=("| staging 4 x 256 MiB from $S3_NAME (incl. sha1 + sha256), vs boto3 \`download_file\` 4 at a time | $(ms "$boto_down") | $(ms "$ours_down"), $(python3 -c "print(f'{$boto_down/$ours_down*100:.0f} %')") of boto3's throughput | $(ratio "$boto_down" "$ours_down") |")
  rows+=("| staging 4 x 256 MiB, peak RSS of the launcher | | $((rss_down / 1024)) MiB | |")
else
  echo "(transfer benchmarks skipped: no S3 server; . .ci/stores.sh, or BENCH_S3_ENDPOINT)" >&2
fi

echo "== hashing 1 GiB: sha1 + sha256 in one pass vs sha1sum then sha256sum" >&2
[ -f "$TMP/big.bin" ] || head -c 1024M /dev/urandom > "$TMP/big.bin"
printf '{"f": "%s"}' "$TMP/big.bin" > "$TMP/link.json"
hyperfine -N --warmup 1 --runs 5 --export-json "$TMP/hash.json" \
  "sha1sum $TMP/big.bin" "sha256sum $TMP/big.bin" \
  "$BIN run --spec fixtures/specs/run/link_file.yaml --inputs @$TMP/link.json --no-input-checksums --workdir $WORK" >&2
s1=$(median "$TMP/hash.json" 0); s2=$(median "$TMP/hash.json" 1); ours=$(median "$TMP/hash.json" 2)
both=$(python3 -c "print($s1 + $s2)")
rows+=("| hashing a 1 GiB output (sha1 + sha256, one pass), vs \`sha1sum\` + \`sha256sum\` | $(ms "$both") | $(ms "$ours"), $(python3 -c "print(f'{$both/$ours*100:.0f} %')") of their throughput | $(ratio "$both" "$ours") |")
rm -rf "${WORK:?}"/*

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
