#!/usr/bin/env bash
# Run CMD... beside a throw-away Milvus standalone server, both inside a private
# network namespace that has loopback alone.
#
#   scripts/with_milvus.sh .venv/bin/pytest tests/test_vector_stores.py
#
# milvus-server (PyPI milvus==2.3.5) listens on all interfaces whatever its
# config says, so it is never started outside such a namespace. CMD sees
# MILVUS_URI=http://127.0.0.1:19530; the server's data folder (it grows to GBs)
# is deleted afterwards. CMD's exit status is returned.
#
# The server's segments are 3 GB instead of 512 MB (MILVUS_SEGMENT_SETTINGS below): a search walks one
# HNSW graph per segment, and with the defaults a 1M-row catalog of 1280-d vectors lands in ~8
# segments, each indexed twice (Milvus compacts a segment flushed in many small parts and builds its
# index again). Measured at 1M rows on these 2 cores, see the README's "Speed". A Milvus cluster takes
# the same keys in its milvus.yaml. SNAPSHOP_MILVUS_CONFIG replaces them: space-separated key=value
# pairs of milvus.yaml's dotted keys ("" for Milvus's own defaults).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "${SNAPSHOP_MILVUS_NETNS:-}" != "$$" ]; then
    [ "$#" -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
    # Re-run this script in a new network namespace: as root, or else inside a
    # user namespace where we are root. If neither is allowed, run CMD without
    # Milvus (its tests then skip, saying why).
    for ns in "--net" "--user --map-root-user --net"; do
        # shellcheck disable=SC2086
        if unshare $ns true 2>/dev/null; then
            # shellcheck disable=SC2086
            exec unshare $ns -- env SNAPSHOP_MILVUS_NETNS=self bash -c \
                'SNAPSHOP_MILVUS_NETNS=$$ exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
        fi
    done
    echo "with_milvus: cannot create a private network namespace; running without Milvus" >&2
    export SNAPSHOP_MILVUS_ERROR="no private network namespace (unshare --net not permitted): Milvus not started"
    exec "$@"
fi

ip link set lo up
# Refuse to start the server if anything but loopback is visible.
if ip -o link show | grep -v ': lo:' | grep -q .; then
    echo "with_milvus: network namespace has interfaces besides lo; refusing" >&2
    exit 3
fi

python="${PYTHON:-$here/.venv/bin/python}"
milvus_bin="$(dirname "$python")/milvus-server"
mkdir -p "$here/.data"
data="$(mktemp -d "$here/.data/milvus.XXXXXX")"
log="$data.log"
extra=()
# Segments sealed at 3 GB, fed by 256 MB flushes: fewer than Milvus's limit of stats files a
# segment, past which it compacts (and re-indexes) the segment.
MILVUS_SEGMENT_SETTINGS="dataCoord.segment.maxSize=3072 dataCoord.segment.sealProportion=1 dataNode.segment.insertBufSize=268435456"
for setting in ${SNAPSHOP_MILVUS_CONFIG-$MILVUS_SEGMENT_SETTINGS}; do
    extra+=(--extra-config "$setting")
done
"$milvus_bin" --data "$data" "${extra[@]+"${extra[@]}"}" >"$log" 2>&1 &
server=$!

cleanup() {
    # milvus-server's children (etcd, milvus) are ours too: note them before stopping it.
    children="$(pgrep -P "$server" 2>/dev/null | tr '\n' ' ' || true)"
    kill -INT "$server" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$server" 2>/dev/null || break; sleep 0.25; done
    # shellcheck disable=SC2086
    kill -9 "$server" $children 2>/dev/null || true
    rm -rf "$data" "$log"
}
trap cleanup EXIT

ready=0
for _ in $(seq 1 120); do
    if "$python" - <<'PY' 2>/dev/null; then ready=1; break; fi
import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(s.connect_ex(("127.0.0.1", 19530)))
PY
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    echo "with_milvus: milvus-server did not start; last log lines:" >&2
    tail -n 20 "$log" >&2 || true
    export SNAPSHOP_MILVUS_ERROR="milvus-server did not start (see with_milvus.sh output)"
else
    export MILVUS_URI="http://127.0.0.1:19530"
fi

set +e
"$@"
status=$?
set -e
exit "$status"
