# Installs (once) and starts the test object stores on 127.0.0.1, then
# exports where they are. Source it: `. .ci/stores.sh`.
#   OMNI_TEST_S3_ENDPOINT     moto's S3 server
#   OMNI_TEST_AZURITE_URL     Azurite's blob service
# Both servers stop when the shell that sourced this exits.

_omni_ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x "$_omni_ci_dir/.venv/bin/moto_server" ]; then
  python3 -m venv "$_omni_ci_dir/.venv"
  "$_omni_ci_dir/.venv/bin/pip" install --quiet 'moto[server]==5.*' cryptography
fi
if [ ! -x "$_omni_ci_dir/node/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$_omni_ci_dir/node"
  (cd "$_omni_ci_dir/node" && npm install --silent --no-audit --no-fund azurite@3)
fi

_omni_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_omni_wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  return 1
}

_omni_s3_port=$(_omni_free_port)
"$_omni_ci_dir/.venv/bin/moto_server" -H 127.0.0.1 -p "$_omni_s3_port" >"${TMPDIR:-/tmp}/omni-moto.log" 2>&1 &
OMNI_TEST_MOTO_PID=$!

_omni_az_port=$(_omni_free_port)
_omni_az_dir=$(mktemp -d)
"$_omni_ci_dir/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$_omni_az_port" \
  --location "$_omni_az_dir" --skipApiVersionCheck --loose --silent >"${TMPDIR:-/tmp}/omni-azurite.log" 2>&1 &
OMNI_TEST_AZURITE_PID=$!

# Servers the sourcing shell stops when it exits (.ci/containers.sh adds to it).
OMNI_CI_PIDS="${OMNI_CI_PIDS:-} $OMNI_TEST_MOTO_PID $OMNI_TEST_AZURITE_PID"
trap 'kill $OMNI_CI_PIDS 2>/dev/null' EXIT

_omni_wait_port "$_omni_s3_port" && _omni_wait_port "$_omni_az_port" || return 1 2>/dev/null || exit 1
export OMNI_TEST_S3_ENDPOINT="http://127.0.0.1:$_omni_s3_port"
export OMNI_TEST_AZURITE_URL="http://127.0.0.1:$_omni_az_port"
echo "test stores: S3 at $OMNI_TEST_S3_ENDPOINT (pid $OMNI_TEST_MOTO_PID), Azurite at $OMNI_TEST_AZURITE_URL (pid $OMNI_TEST_AZURITE_PID)" >&2
