#!/bin/sh
# SSE fan-out benchmark of a channel (benches/sse_fanout.rs): 2,000 loopback clients by
# default (REEL_BENCH_CLIENTS overrides). Each client is a socket in this process and in
# the server it starts, so the open-file limit is raised first.
set -eu
cd "$(dirname "$0")/.."
want=$(( ${REEL_BENCH_CLIENTS:-2000} + 256 ))
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
echo "ulimit -n: $(ulimit -n)"
exec cargo bench --bench sse_fanout "$@"
