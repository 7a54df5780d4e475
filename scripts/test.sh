#!/usr/bin/env bash
# The README's second command: installs dependencies, builds and runs every
# test (cmocka unit tests, fuzz-corpus replays, pytest protocol tests against
# real daemons) through ctest.
#
#   ./scripts/test.sh          release build in ./build
#   ./scripts/test.sh --asan   clang build with AddressSanitizer +
#                              UndefinedBehaviorSanitizer in ./build-asan; the
#                              fuzz targets run as real libFuzzer sessions
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

case "${1:-}" in
  "")
    dir=build
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ;;
  --asan)
    dir=build-asan
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPETREL_SANITIZE=ON \
      -DPETREL_FUZZ=ON >/dev/null
    ;;
  *)
    echo "usage: $0 [--asan]" >&2
    exit 2
    ;;
esac

cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j"$(nproc)"
