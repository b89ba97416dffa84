package llada

import (
	"os"
	"runtime"
	"testing"
)

// Tokenizer throughput on one core over the Brown excerpt, next to the oracle's numbers from
// `node tools/tokenizer-oracle/gen.js bench FILE` (see tools/tokenizer-oracle/README.md):
//
//	GOMAXPROCS=1 go test -run '^$' -bench Tokenizer -benchtime 3s .
func benchTokenizer(b *testing.B, spec goldenSpec) {
	tok := spec.load(b)
	data, err := os.ReadFile("testdata/tokenizers/brown.txt")
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	ids, err := tok.Encode(text, false)
	if err != nil {
		b.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, err := tok.Encode(text, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := tok.Decode(ids, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

func BenchmarkTokenizerLlama3(b *testing.B) {
	benchTokenizer(b, "daulet:Meta-Llama-3-8B-Instruct.json")
}

func BenchmarkTokenizerBertWordPiece(b *testing.B) {
	benchTokenizer(b, "daulet:bert-base-uncased.json")
}

func BenchmarkTokenizerQwen2Trained(b *testing.B) {
	benchTokenizer(b, "testdata/tokenizers/bpe-qwen2.json")
}
