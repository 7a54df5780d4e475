#!/bin/sh
# Runs every bench/bench_*.py against an existing Petrel build, one after the
# other. Builds nothing: build first (see bench/README.md).
#
#   bench/run-all.sh BUILD_DIR [OPTION...]
#
# OPTIONs are passed to every benchmark, so use only options they all accept
# (e.g. --timeout). Each benchmark is stopped after BENCH_TIMEOUT seconds
# (default 1800). Exit status: 0 if every benchmark succeeded, 1 otherwise.
set -u

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 BUILD_DIR [OPTION...]" >&2
	exit 2
fi
build_dir=$1
shift
if [ ! -x "$build_dir/admin/petrelctl" ]; then
	echo "$0: $build_dir/admin/petrelctl not found: build Petrel first" >&2
	exit 2
fi

bench_dir=$(cd "$(dirname "$0")" && pwd)
limit=${BENCH_TIMEOUT:-1800}
failed=""
found=0
for bench in "$bench_dir"/bench_*.py; do
	[ -f "$bench" ] || continue
	found=$((found + 1))
	name=$(basename "$bench" .py)
	echo "=== $name ($(date '+%Y-%m-%d %H:%M:%S'))"
	# SIGTERM first: the benchmark then stops its servers; SIGKILL 30s later.
	timeout -k 30 "$limit" /usr/bin/python3 "$bench" --build-dir "$build_dir" "$@"
	status=$?
	if [ $status -ne 0 ]; then
		echo "=== $name FAILED (status $status)" >&2
		failed="$failed $name"
	fi
done

if [ $found -eq 0 ]; then
	echo "$0: no bench_*.py in $bench_dir" >&2
	exit 1
fi
if [ -n "$failed" ]; then
	echo "failed:$failed" >&2
	exit 1
fi
echo "all $found benchmarks done"
