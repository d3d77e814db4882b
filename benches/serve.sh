#!/usr/bin/env bash
# Serving benchmark: reel against nginx on the same files, measured with wrk.
#
#   benches/serve.sh                  build reel (release), run both tests, print the table
#   DURATION=30 CONNECTIONS=64 ROUNDS=5 benches/serve.sh
#   REEL=target/release/reel SKIP_BUILD=1 benches/serve.sh
#   REEL_ARGS="--cache-mb 0" benches/serve.sh      extra `reel serve` arguments
#
# Tests (identical URLs on both servers, keep-alive, wrk's 2 threads):
#   segment  GET of a whole 1 MiB segment inside a video's tree   (/media/bench/720p/seg-1m.m4s)
#   range    GET Range: 64 KiB at random aligned offsets of a 50 MiB library file
#            (/library/film-50m.mp4)
#
# Each test alternates nginx and reel runs ROUNDS times (default 3) and reports the
# median requests/s of each, so a burst of noise from other processes hits both, and the
# median server CPU time per request (user + system, from /proc), which other load on the
# machine disturbs much less than throughput.
#
# Fairness: by default each server is pinned to CPU 0 with one worker (nginx
# worker_processes 1; actix sizes its workers from the CPU affinity) and wrk to CPU 1, so
# the load generator never steals the server's core. PIN=0 runs everything unpinned with
# as many workers as CPUs. nginx runs Debian's defaults that matter here (sendfile on,
# tcp_nopush on) and, like reel, writes an access log line per request.
#
# Needs: nginx (nginx-light), wrk, taskset (util-linux). scripts/setup --test installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-1}
REEL=${REEL:-target/release/reel}
NGINX_PORT=${NGINX_PORT:-18081}
REEL_PORT=${REEL_PORT:-18082}

for tool in nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "serve.sh: $tool is missing (scripts/setup --test)" >&2; exit 1; }
done
if [[ -z "${SKIP_BUILD:-}" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
  cargo build --release --quiet
fi

work=$(mktemp -d /tmp/reel-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the files -------------------------------------------------------------------------
# A real video tree (so /media/bench is in reel's catalog), plus a 1 MiB segment in it.
"$REEL" sample "$work/clip.mp4" --size 320x180 --seconds 2 >/dev/null 2>&1
"$REEL" transcode "$work/clip.mp4" --out "$work/media/bench" --heights 180 >/dev/null 2>&1
mkdir -p "$work/media/bench/720p" "$work/library"
head -c $((1 << 20)) /dev/urandom > "$work/media/bench/720p/seg-1m.m4s"
head -c $((50 << 20)) /dev/urandom > "$work/library/film-50m.mp4"
chmod -R a+rX "$work"   # nginx workers run as www-data

cat > "$work/range.lua" <<'LUA'
-- 64 KiB ranges at random 64 KiB-aligned offsets of a 50 MiB file.
math.randomseed(42)
local chunk, size = 65536, 50 * 1024 * 1024
request = function()
  local start = math.random(0, size / chunk - 1) * chunk
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + chunk - 1) })
end
LUA

if [[ "$PIN" == 1 ]]; then
  server_cpus=(taskset -c 0); wrk_cpus=(taskset -c 1); nginx_workers=1
else
  server_cpus=(); wrk_cpus=(); nginx_workers=auto
fi

# --- nginx -----------------------------------------------------------------------------
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes $nginx_workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  types { video/iso.segment m4s; }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  access_log $work/nginx/access.log;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /media/ { alias $work/media/; }
    location /library/ { alias $work/library/; }
  }
}
CONF
"${server_cpus[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")

# --- reel ------------------------------------------------------------------------------
"${server_cpus[@]}" "$REEL" serve --bind "127.0.0.1:$REEL_PORT" --media "$work/media" \
  --library "$work/library" ${REEL_ARGS:-} > "$work/reel.out" 2> "$work/reel.log" &
reel_pid=$!
pids+=("$reel_pid")

for url in "http://127.0.0.1:$NGINX_PORT/media/bench/720p/seg-1m.m4s" \
           "http://127.0.0.1:$REEL_PORT/media/bench/720p/seg-1m.m4s"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
  curl -sf -o /dev/null "$url" || { echo "serve.sh: $url does not answer" >&2; cat "$work/reel.log" >&2; exit 1; }
done

# --- runs ------------------------------------------------------------------------------
server_pids() { # server -> the processes doing its work (nginx: the workers)
  if [[ $1 == nginx ]]; then pgrep -P "$nginx_pid"; else echo "$reel_pid"; fi
}
cpu_ticks() { # pids... -> user + system clock ticks so far (all threads)
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$total"
}
run() { # test server port path script round -> "requests/s server-CPU-us-per-request"
  local out="$work/wrk-$1-$2-$6.txt"
  local args=(-t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [[ -n "$5" ]] && args+=(-s "$5")
  local procs; procs=$(server_pids "$2")
  local before; before=$(cpu_ticks $procs)
  "${wrk_cpus[@]}" wrk "${args[@]}" "http://127.0.0.1:$3$4" > "$out"
  local after; after=$(cpu_ticks $procs)
  if grep -q "Non-2xx" "$out"; then
    echo "serve.sh: $2 answered errors in the $1 test:" >&2; cat "$out" >&2; exit 1
  fi
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '/Requests\/sec/ {
    rps = $2; printf "%s %.1f\n", rps, ticks / hz * 1e6 / (rps * '"$DURATION"') }' "$out"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
p99() { # test server: median of the runs' 99th percentile latencies, in ms
  for f in "$work"/wrk-"$1"-"$2"-*.txt; do
    awk '/ 99%/ { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' "$f"
  done | median
}

printf "reel serving benchmark: %s rounds of %ss, %s connections, pinned=%s, %s CPUs, load %s\n" \
  "$ROUNDS" "$DURATION" "$CONNECTIONS" "$PIN" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-36s %11s %11s %6s %10s %10s %12s %12s\n" test "nginx req/s" "reel req/s" ratio \
  "nginx p99" "reel p99" "nginx us/req" "reel us/req"
for t in segment range; do
  if [[ $t == segment ]]; then path=/media/bench/720p/seg-1m.m4s; script=""; label="whole 1 MiB segment (/media)"
  else path=/library/film-50m.mp4; script="$work/range.lua"; label="64 KiB range of 50 MiB (/library)"; fi
  n_rps=(); r_rps=(); n_cpu=(); r_cpu=()
  for round in $(seq "$ROUNDS"); do
    read -r rps cpu < <(run "$t" nginx "$NGINX_PORT" "$path" "$script" "$round"); n_rps+=("$rps"); n_cpu+=("$cpu")
    read -r rps cpu < <(run "$t" reel "$REEL_PORT" "$path" "$script" "$round"); r_rps+=("$rps"); r_cpu+=("$cpu")
  done
  n=$(printf "%s\n" "${n_rps[@]}" | median)
  r=$(printf "%s\n" "${r_rps[@]}" | median)
  ratio=$(awk -v r="$r" -v n="$n" 'BEGIN { printf "%.2f", r / n }')
  printf "%-36s %11.0f %11.0f %5sx %8.1fms %8.1fms %12.1f %12.1f\n" "$label" "$n" "$r" "$ratio" \
    "$(p99 "$t" nginx)" "$(p99 "$t" reel)" \
    "$(printf "%s\n" "${n_cpu[@]}" | median)" "$(printf "%s\n" "${r_cpu[@]}" | median)"
  [[ -n "${VERBOSE:-}" ]] && echo "  req/s runs: nginx ${n_rps[*]} | reel ${r_rps[*]}"
done
