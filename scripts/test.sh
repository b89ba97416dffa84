#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, vet, a cgo-free build, the Go tests with the race
# detector, a bounded fuzz run, and the Python export tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2

bash scripts/setup.sh

# Four modules share this repository (go.work) besides the GoMLX backend: the library, the CLI, the shipped
# models and the HTTP server.
pkgs=(./... ./cmd/llada/... ./models/... ./serve/...)
# The server's end-to-end test with the official OpenAI client must run here, not skip.
export LLADA_REQUIRE_OPENAI_CLIENT=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet "${pkgs[@]}"
go vet -tags daulet "${pkgs[@]}"

echo "== each module on its own (GOWORK=off), as a go get user builds it: go.mod and go.sum complete"
for m in . models serve gomlx cmd/llada; do (cd "$m" && GOWORK=off go vet ./...); done

echo "== cgo-free build of the core"
CGO_ENABLED=0 go build "${pkgs[@]}"

echo "== go test -race"
go test -race -count=1 "${pkgs[@]}"

echo "== benchmarks at toy size (quantized weights: fp32 / int8 / int4)"
go test -count=1 -run '^$' -bench '^BenchmarkQuantizedWeights$' -benchtime 1x .
echo "== benchmarks at toy size (KV caches: none / prefix / dual on testdata/kvcache)"
go test -count=1 -run '^$' -bench '^BenchmarkKVCache$' -benchtime 1x .

echo "== GoMLX backend (module gomlx/, CLI -tags gomlx; PJRT build compiled, run without a plugin)"
go vet ./gomlx/...
go vet -tags pjrt ./gomlx/...
go vet -tags gomlx ./cmd/llada/...
CGO_ENABLED=0 go build ./gomlx/...
CGO_ENABLED=0 go build -tags gomlx ./cmd/llada/...
go test -count=1 ./gomlx/...
go test -count=1 -tags gomlx ./cmd/llada/...
go test -count=1 -tags pjrt -run '^TestPJRT' ./gomlx/
# -race on the pure-Go backend is too slow for the model-sized tests; our concurrency runs on the tiny model.
go test -race -count=1 -run '^(TestConcurrentForward|TestShapeCache|TestClose|TestForwardBadInput|TestConfidenceGraphCases)$' ./gomlx/

echo "== fuzz (bounded)"
go test -run '^$' -fuzz '^FuzzTokenizerRoundTrip$' -fuzztime 20s .

echo "== python export tests"
/usr/bin/python3 -m unittest discover -s export -p 'test_*.py'
