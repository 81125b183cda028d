# nodeseal's container image: built from this source tree, then a small
# runtime stage with the binary, the man page and what the binary needs.
#
#   podman build -t nodeseal .        (or docker build)
#
# To add nodeseal to an existing node image, copy the binary from this one
# and install the same runtime packages there (README.md, "Run it in
# containers"); tests/integration/test_container.py builds and runs both.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make \
        libssl-dev libnetfilter-queue-dev libmnl-dev libcjson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src ./src
# The daemon only, not the tests.
RUN make -j"$(nproc)" build/nodeseal

FROM debian:12
# iptables and nft install the interception and the guard table; ip the
# policy routing of proxy mode.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 \
        libssl3 libnetfilter-queue1 libmnl0 libcjson1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/nodeseal /usr/local/bin/nodeseal
COPY docs/nodeseal.8 /usr/local/share/man/man8/nodeseal.8
ENTRYPOINT ["nodeseal", "run", "--"]
