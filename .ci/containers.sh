# Sourced by .ci/run: everything the container tests need, without an image
# registry. Installs docker and podman, starts a private docker daemon with
# no networking of its own, builds the base images with debootstrap (cached
# in $OMNI_IMAGES), builds the top-level Dockerfile from them, and exports
# what the tests read:
#   DOCKER_HOST                  the private daemon's socket
#   OMNI_TEST_IMAGE              a minimal Debian image (docker and podman)
#   OMNI_TEST_BLAST_IMAGE        the same with ncbi-blast+
#   OMNI_TEST_LAUNCHER_IMAGE     the top-level Dockerfile, built offline
#   OMNI_TEST_LAUNCHER_BLAST_IMAGE  examples/Dockerfile.blast on top of it
# The daemon is stopped when the sourcing shell exits.

OMNI_IMAGES="${OMNI_IMAGES:-/tmp/omni-images}"
mkdir -p "$OMNI_IMAGES"

if ! command -v dockerd >/dev/null || ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    docker.io podman catatonit uidmap debootstrap ca-certificates >/dev/null
fi

# The private daemon: only its unix socket, no bridge, no iptables.
omni_docker="$OMNI_IMAGES/docker"
export DOCKER_HOST="unix://$omni_docker/docker.sock"
if ! docker version >/dev/null 2>&1; then
  mkdir -p "$omni_docker"
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --host "$DOCKER_HOST" --data-root "$omni_docker/data" \
    --exec-root "$omni_docker/exec" --pidfile "$omni_docker/dockerd.pid" \
    >"$omni_docker/dockerd.log" 2>&1 &
  OMNI_CI_PIDS="${OMNI_CI_PIDS:-} $!"
  trap 'kill $OMNI_CI_PIDS 2>/dev/null' EXIT
  for _ in $(seq 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null || { tail -20 "$omni_docker/dockerd.log"; exit 1; }
fi

# The Debian mirror this machine's apt uses.
omni_mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
omni_mirror="${omni_mirror:-http://deb.debian.org/debian}"

# omni_image NAME [PACKAGES]: a debootstrap minbase bookworm image, in
# docker and podman.
omni_image() {
  local name="$1" include="${2:-}" tarball="$OMNI_IMAGES/${1//[\/:]/-}.tar"
  if ! docker image inspect "$name" >/dev/null 2>&1; then
    if [ ! -s "$tarball" ]; then
      local root="$OMNI_IMAGES/rootfs-$$"
      rm -rf "$root"
      debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$root" "$omni_mirror" >/dev/null
      rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
      tar -C "$root" -cf "$tarball" .
      rm -rf "$root"
    fi
    docker import "$tarball" "$name" >/dev/null
  fi
  if ! podman image exists "$name"; then
    podman import --quiet "$tarball" "$name" >/dev/null
  fi
}

echo "--- container images"
omni_image omni-test/bookworm:minbase
omni_image omni-test/blast:bookworm ncbi-blast+

# A builder for the Dockerfile's first stage: minbase, a C linker, this
# machine's Rust toolchain (no rustup download needed) and its CA
# certificates (which may include a proxy's, for crates.io).
if ! docker image inspect omni-test/rust:bookworm >/dev/null 2>&1; then
  omni_image omni-test/cc:bookworm gcc,libc6-dev,ca-certificates
  omni_sysroot="$(rustc --print sysroot)"
  omni_ctx="$OMNI_IMAGES/rust-context"
  rm -rf "$omni_ctx" && mkdir -p "$omni_ctx/rust"
  cp -a "$omni_sysroot/bin" "$omni_sysroot/lib" "$omni_ctx/rust/"
  cp /etc/ssl/certs/ca-certificates.crt "$omni_ctx/"
  printf '%s\n' 'FROM omni-test/cc:bookworm' 'COPY rust /usr/local' \
    'COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt' \
    'ENV CARGO_HOME=/usr/local/cargo' >"$omni_ctx/Dockerfile"
  docker build --quiet --network none -t omni-test/rust:bookworm "$omni_ctx" >/dev/null
  rm -rf "$omni_ctx"
fi

# The top-level Dockerfile, from those bases; cargo reaches crates.io
# through the host's network.
docker build --quiet --network host \
  --build-arg BUILDER=omni-test/rust:bookworm \
  --build-arg BASE=omni-test/bookworm:minbase \
  -t omni-launch:ci . >/dev/null
# The BLAST job image on top of it, apt reaching the Debian mirror.
docker build --quiet --network host --build-arg LAUNCHER=omni-launch:ci \
  -t omni-launch-blast:ci -f examples/Dockerfile.blast . >/dev/null

# Where podman may not raise the default open-file and process limits
# (no CAP_SYS_RESOURCE), give it limits it can set.
if ! podman run --rm --network none omni-test/bookworm:minbase true >/dev/null 2>&1; then
  export CONTAINERS_CONF="$OMNI_IMAGES/containers.conf"
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n' \
    "$(ulimit -Sn)" "$(ulimit -Hn)" >"$CONTAINERS_CONF"
  podman run --rm --network none omni-test/bookworm:minbase true
fi

export OMNI_TEST_IMAGE=omni-test/bookworm:minbase
export OMNI_TEST_BLAST_IMAGE=omni-test/blast:bookworm
export OMNI_TEST_LAUNCHER_IMAGE=omni-launch:ci
export OMNI_TEST_LAUNCHER_BLAST_IMAGE=omni-launch-blast:ci
