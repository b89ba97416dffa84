package llada

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Expected values in this file come from tokenizers@0.23.2 (the oracle's Node binding), component by component.

func preTok(t *testing.T, js, s string) []string {
	t.Helper()
	p, err := buildPreTokenizer([]byte(js))
	require.NoError(t, err)
	out, err := p.preTokenize([]piece{{s, true}})
	require.NoError(t, err)
	got := []string{}
	for _, x := range out {
		got = append(got, x.s)
	}
	return got
}

func TestPreTokenizers(t *testing.T) {
	const cd = "the-final--countdown-"
	split := func(b string, inv bool) string {
		return fmt.Sprintf(`{"type":"Split","pattern":{"String":"-"},"behavior":%q,"invert":%v}`, b, inv)
	}
	tests := []struct {
		name, js, in string
		want         []string
	}{
		{"removed", split("Removed", false), cd, []string{"the", "final", "countdown"}},
		{"removed invert", split("Removed", true), cd, []string{"-", "-", "-", "-"}},
		{"isolated", split("Isolated", false), cd, []string{"the", "-", "final", "-", "-", "countdown", "-"}},
		{"merged with previous", split("MergedWithPrevious", false), cd, []string{"the-", "final-", "-", "countdown-"}},
		{"merged with previous invert", split("MergedWithPrevious", true), cd, []string{"the", "-final", "-", "-countdown", "-"}},
		{"merged with next", split("MergedWithNext", false), cd, []string{"the", "-final", "-", "-countdown", "-"}},
		{"merged with next invert", split("MergedWithNext", true), cd, []string{"the-", "final-", "-", "countdown-"}},
		{"contiguous", split("Contiguous", false), cd, []string{"the", "-", "final", "--", "countdown", "-"}},
		{"regex", `{"type":"Split","pattern":{"Regex":"\\s+(?!\\S)"},"behavior":"Removed","invert":false}`, "a  b ", []string{"a", " b"}},
		{"digits individual", `{"type":"Digits","individual_digits":true}`, "a123b4 5", []string{"a", "1", "2", "3", "b", "4", " ", "5"}},
		{"digits", `{"type":"Digits","individual_digits":false}`, "a123b4 5", []string{"a", "123", "b", "4", " ", "5"}},
		{"punctuation", `{"type":"Punctuation"}`, "Hi!? (x) a.b", []string{"Hi", "!", "?", " ", "(", "x", ")", " a", ".", "b"}},
		{"punctuation contiguous", `{"type":"Punctuation","behavior":"Contiguous"}`, "Hi!? (x) a.b", []string{"Hi", "!?", " ", "(", "x", ")", " a", ".", "b"}},
		{"whitespace split", `{"type":"WhitespaceSplit"}`, "  a b\t\nc\u00a0d  ", []string{"a", "b", "c", "d"}},
		{"metaspace always", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, "Hey  friend ", []string{"▁Hey", "▁", "▁friend", "▁"}},
		{"metaspace never", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, "Hey  friend ", []string{"Hey", "▁", "▁friend", "▁"}},
		{"metaspace no split", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}`, "Hey  friend ", []string{"▁Hey▁▁friend▁"}},
		{"metaspace legacy add_prefix_space", `{"type":"Metaspace","replacement":"▁","add_prefix_space":false}`, "Hey  friend ", []string{"Hey", "▁", "▁friend", "▁"}},
		{"bert", `{"type":"BertPreTokenizer"}`, "Hello, world!  It's 3.5", []string{"Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5"}},
		{"char delimiter", `{"type":"CharDelimiterSplit","delimiter":"x"}`, "axbxxc", []string{"a", "b", "c"}},
		{"whitespace", `{"type":"Whitespace"}`, "a\u200db ab\u0301c x_y a① aⅫ", []string{"a\u200db", "ab\u0301c", "x_y", "a", "①", "aⅫ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, preTok(t, tt.js, tt.in))
		})
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct {
		name, js, in, want string
	}{
		{"strip both", `{"type":"Strip","left":true,"right":true}`, "  a b \n", "a b"},
		{"strip left", `{"type":"Strip","left":true,"right":false}`, "  a b \n", "a b \n"},
		{"nfkd", `{"type":"NFKD"}`, "ﬁ①é", "fi1e\u0301"},
		{"lowercase", `{"type":"Lowercase"}`, "İSTANBUL ΣΑΣ Ǆ", "i̇stanbul σασ ǆ"},
		{"strip accents", `{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"}]}`, "naïve café", "naive cafe"},
		{"replace", `{"type":"Replace","pattern":{"String":"a"},"content":"bb"}`, "banana", "bbbnbbnbb"},
		{"replace regex", `{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}`, "a   b  c", "a b c"},
		{"prepend", `{"type":"Prepend","prepend":"▁"}`, "x", "▁x"},
		{"prepend empty", `{"type":"Prepend","prepend":"▁"}`, "", ""},
		{"bert no lowercase", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":false,"lowercase":false}`, "Héllo\u0000\tW中\u200bx", "Héllo W 中 x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := buildNormalizer([]byte(tt.js))
			require.NoError(t, err)
			got, err := n.normalize(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecoders(t *testing.T) {
	tests := []struct {
		name, js string
		in       []string
		want     string
	}{
		{"strip", `{"type":"Strip","content":"_","start":1,"stop":2}`, []string{"_a__", "__b___"}, "a_b_"},
		{"fuse", `{"type":"Fuse"}`, []string{"a", "b"}, "ab"},
		{"byte fallback", `{"type":"ByteFallback"}`, []string{"<0x61>", "<0xE2>", "<0x82>", "x", "<0xE2>", "<0x82>", "<0xAC>", "<0xff>"}, "\uFFFD\uFFFD\uFFFDx\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"bpe decoder", `{"type":"BPEDecoder","suffix":"</w>"}`, []string{"hel", "lo</w>", "wor", "ld</w>"}, "hello world"},
		{"wordpiece cleans per token", `{"type":"WordPiece","prefix":"##","cleanup":true}`, []string{"hello", "##s", ",", "do", "not", "it", "'", "s"}, "hellos, do not it ' s"},
		{"metaspace", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, []string{"▁Hey", "▁▁friend", "▁"}, "Hey  friend "},
		{"metaspace never", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, []string{"▁Hey", "▁friend"}, " Hey friend"},
		{"replace", `{"type":"Replace","pattern":{"String":"▁"},"content":" "}`, []string{"▁a", "b▁"}, " ab "},
		{"byte level lossy", `{"type":"ByteLevel"}`, []string{"Ġa", "âĤ", "b"}, " a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := buildDecoder([]byte(tt.js))
			require.NoError(t, err)
			out, err := d.decodeChain(tt.in)
			require.NoError(t, err)
			got := ""
			for _, s := range out {
				got += s
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLossyUTF8(t *testing.T) {
	// Each maximal ill-formed subpart is one U+FFFD, as Rust's String::from_utf8_lossy does.
	tests := []struct{ in, want string }{
		{"\xE2\x82a", "\uFFFDa"},
		{"\xF0\x9F\x98", "\uFFFD"},
		{"\xC0\x80", "\uFFFD\uFFFD"},
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"a\xFFb€", "a\uFFFDb€"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, string(appendLossyUTF8(nil, []byte(tt.in))), "%q", tt.in)
	}
}

func TestBPEMergesLayouts(t *testing.T) {
	// The same model written with "a b" merges and with [a, b] pairs encodes the same way.
	base := `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"abc":4},"merges":%s}}`
	for _, merges := range []string{`["a b","ab c"]`, `[["a","b"],["ab","c"]]`} {
		tok, err := ParseTokenizer([]byte(fmt.Sprintf(base, merges)))
		require.NoError(t, err)
		ids, err := tok.Encode("abcab", false)
		require.NoError(t, err)
		require.Equal(t, []int{4, 3}, ids)
	}
}

func TestMergeHeapOrder(t *testing.T) {
	// Pops come out by rank, then leftmost position, whatever the mix of heapify and pushes.
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 40 {
		var h mergeHeap
		var want []uint64
		for i := range n {
			m := newMerge(uint64(r.IntN(5))<<32|uint64(i), r.IntN(100))
			h = append(h, m)
			want = append(want, m.key)
		}
		for i := (len(h) - 2) / 4; len(h) > 1 && i >= 0; i-- {
			h.down(i)
		}
		for range n / 2 {
			m := newMerge(uint64(r.IntN(5))<<32, r.IntN(100))
			h.push(m)
			want = append(want, m.key)
		}
		slices.Sort(want)
		var got []uint64
		for len(h) > 0 {
			got = append(got, h.pop().key)
		}
		require.Equal(t, want, got, "n=%d", n)
	}
}

func TestBPESegmentsMatchWholeWord(t *testing.T) {
	// Cutting long words at never-joined boundaries must not change the ids.
	brown, err := os.ReadFile("testdata/tokenizers/brown.txt")
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(5, 6))
	extra := []string{"▁", "▁▁", " ", "\n", "é", "中", "😀", "\u0301", "<0x41>", "'"}
	for _, name := range []string{"bpe-llama2.json", "bpe-metaspace.json", "bpe-qwen2.json", "bpe-llama3.json"} {
		tok := loadTrained(t, name)
		m := tok.model.(*bpe)
		require.NotNil(t, m.joinable)
		for range 200 {
			start := r.IntN(len(brown) - 600)
			w := []byte(strings.ReplaceAll(string(brown[start:start+256+r.IntN(300)]), " ", "▁"))
			for range r.IntN(6) {
				k := r.IntN(len(w))
				w = append(w[:k], append([]byte(extra[r.IntN(len(extra))]), w[k:]...)...)
			}
			word := strings.ToValidUTF8(string(w), "")
			want, err := m.mergeWord(word, nil)
			require.NoError(t, err)
			got, err := m.tokenizeSegments(word, nil)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s: %q", name, word)
		}
		// Pieces under 256 bytes land in the cache, which words this long never do: the words were cut.
		require.NotEmpty(t, m.cache, "%s: no word was cut", name)
	}
}
