# omni-launch as a job image: `omni-launch` on PATH, the bundled tool specs
# at $OMNI_TOOL_SPECS, a non-root user, and `omni-launch run` as the default
# command, so a Batch command override of ["omni-launch", "run"] works.
#
#   docker build -t omni-launch .
#
# The base images are build arguments, so it also builds from local images
# where no registry is reachable (see .ci/containers.sh):
#   BUILDER  any glibc image with cargo, a C linker, the C library's static
#            archives (Debian's libc6-dev) and CA certificates
#   BASE     the runtime base: any Linux image with /bin/sh (the binary is
#            static, so the base's C library does not matter)
ARG BUILDER=rust:1-slim-bookworm
ARG BASE=debian:bookworm-slim

FROM ${BUILDER} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo/static.toml .cargo/static.toml
COPY src/ src/
COPY tool-specs/ tool-specs/
# The static release binary (.cargo/static.toml says why and how).
RUN cargo build --release --locked --config .cargo/static.toml \
      --target "$(rustc -vV | sed -n 's/^host: //p')" \
 && cp target/*/release/omni-launch /usr/local/bin/omni-launch

FROM ${BASE}
COPY --from=build /usr/local/bin/omni-launch /usr/local/bin/omni-launch
# For https object stores; the runtime base may have none.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY tool-specs/ /opt/omni-launch/tool-specs/
ENV OMNI_TOOL_SPECS=/opt/omni-launch/tool-specs \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 1000:1000
WORKDIR /tmp
ENTRYPOINT []
CMD ["omni-launch", "run"]
