#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, creates a dev
# instance in ./dev (once) and runs petrel-imapd, petrel-pop3d and
# petrel-lmtpd in the foreground with their logs interleaved on this
# terminal. Ctrl-C stops all three cleanly.
#
# PETREL_BASE_PORT (default 10000) picks the ports: base+143 IMAP, +993 IMAPS,
# +110 POP3, +995 POP3S, +24 LMTP, all on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

base=${PETREL_BASE_PORT:-10000}
if [ ! -f dev/petrel.conf ]; then
  build/admin/petrelctl sandbox create dev --base-port "$base"
fi

pids=()
stop() {
  trap - INT TERM
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap 'stop; exit 0' INT TERM

for d in imapd pop3d lmtpd; do
  build/$d/petrel-$d -c dev/petrel.conf -f &
  pids+=($!)
done
echo "petrel: running (config dev/petrel.conf, data dev/data); Ctrl-C stops" >&2

# Ctrl-C reaches the daemons too (same process group): each stops cleanly
# and exits 0. Any other exit means one of them died; stop the rest.
set +e
wait -n "${pids[@]}"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "petrel: a daemon exited with status $status; stopping the others" >&2
fi
stop
exit "$status"
