#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, vet, a cgo-free build, the Go tests with the race
# detector, a bounded fuzz run, and the Python export tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2

bash scripts/setup.sh

# Three modules share this repository (go.work): the library, the CLI and the shipped models.
pkgs=(./... ./cmd/llada/... ./models/...)

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet "${pkgs[@]}"
go vet -tags daulet "${pkgs[@]}"

echo "== cgo-free build of the core"
CGO_ENABLED=0 go build "${pkgs[@]}"

echo "== go test -race"
go test -race -count=1 "${pkgs[@]}"

echo "== fuzz (bounded)"
go test -run '^$' -fuzz '^FuzzTokenizerRoundTrip$' -fuzztime 20s .

echo "== python export tests"
/usr/bin/python3 -m unittest discover -s export -p 'test_*.py'
