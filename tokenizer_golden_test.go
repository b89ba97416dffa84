package llada

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The goldens come from tools/tokenizer-oracle (Hugging Face tokenizers@0.23.2); see its README.

// dauletModule pins the Go module whose test data holds real tokenizer.json files that cannot be committed here
// (Meta's LLaMA-3 file has a restrictive licence); the test fetches it with the go tool.
const dauletModule = "github.com/daulet/tokenizers@v1.24.0"

var dauletDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", dauletModule).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s (needed for the real tokenizer files): %w", dauletModule, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s %v", dauletModule, info.Error, err)
	}
	return filepath.Join(info.Dir, "test", "data"), nil
})

type goldenCase struct {
	IDs       []int           `json:"ids"`
	Plain     []int           `json:"plain"`
	PlainWrap []int           `json:"plain_wrap"`
	Dec       json.RawMessage `json:"dec"`
	DecSkip   json.RawMessage `json:"dec_skip"`
}

type goldenFile struct {
	Oracle    string       `json:"oracle"`
	Source    string       `json:"source"`
	VocabSize int          `json:"vocab_size"`
	MaxID     int          `json:"max_id"`
	IDSample  [][2]any     `json:"id_sample"`
	Cases     []goldenCase `json:"cases"`
	// Single holds [case index, decode of each id alone, same with skipSpecial] for non-ASCII hard strings.
	Single [][3]json.RawMessage `json:"single"`
}

// restore undoes the oracle's compaction: absent means equal to ref, {"wrap": [h, t]} means h + ref + t.
func restore(raw json.RawMessage, ref string) (string, error) {
	if len(raw) == 0 {
		return ref, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var w struct{ Wrap [2]string }
	if err := json.Unmarshal(raw, &w); err != nil {
		return "", err
	}
	return w.Wrap[0] + ref + w.Wrap[1], nil
}

// goldenCorpus rebuilds the inputs in the order the oracle used (gen.js loadCorpus).
func goldenCorpus(t testing.TB) []string {
	t.Helper()
	var c struct{ Hard []string }
	data, err := os.ReadFile("testdata/tokenizers/corpus.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &c))
	b, err := os.ReadFile("testdata/tokenizers/brown.txt")
	require.NoError(t, err)
	brown := string(b)
	var lines []string
	for _, l := range strings.Split(brown, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	cases := append([]string(nil), c.Hard...)
	for i := 0; i < len(lines) && i < 60; i += 3 {
		cases = append(cases, lines[i])
	}
	for i := 0; i+8 <= len(lines) && i < 80; i += 16 {
		cases = append(cases, strings.Join(lines[i:i+8], "\n"))
	}
	return append(cases, brown)
}

// goldenSpec names a tokenizer file: a path relative to the repository root, or daulet:NAME for a file in the
// daulet/tokenizers module's test data.
type goldenSpec string

func (g goldenSpec) load(t testing.TB) *HFTokenizer {
	t.Helper()
	p := string(g)
	if name, ok := strings.CutPrefix(p, "daulet:"); ok {
		dir, err := dauletDir()
		require.NoError(t, err)
		p = filepath.Join(dir, name)
	}
	tok, err := LoadTokenizer(p)
	require.NoError(t, err)
	return tok
}

// goldenFiles lists every testdata/tokenizers/*.golden.json, so a golden made with
// `node tools/tokenizer-oracle/gen.js golden FILE OUT` is tested without touching this file.
func goldenFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/tokenizers/*.golden.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestTokenizerGolden(t *testing.T) {
	corpus := goldenCorpus(t)
	for _, file := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".golden.json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var gf goldenFile
			require.NoError(t, json.Unmarshal(data, &gf))
			require.NotEmpty(t, gf.Source, "golden without source; regenerate it")
			tok := goldenSpec(gf.Source).load(t)
			require.Len(t, gf.Cases, len(corpus), "golden and corpus disagree; regenerate with tools/tokenizer-oracle")
			require.Equal(t, gf.MaxID+1, tok.VocabSize())
			for _, s := range gf.IDSample {
				id := int(s[0].(float64))
				got, ok := tok.IDToken(id)
				if s[1] == nil {
					require.False(t, ok, "id %d", id)
					continue
				}
				require.True(t, ok, "id %d", id)
				require.Equal(t, s[1].(string), got, "IDToken(%d)", id)
				back, ok := tok.TokenID(got)
				require.True(t, ok)
				require.Equal(t, id, back, "TokenID(%q)", got)
			}
			fails := 0
			for i, c := range gf.Cases {
				text := corpus[i]
				plain := c.Plain
				if plain == nil {
					plain = c.IDs
					if len(c.PlainWrap) == 2 {
						plain = c.IDs[c.PlainWrap[0] : len(c.IDs)-c.PlainWrap[1]]
					}
				}
				decSkip, err := restore(c.DecSkip, text)
				require.NoError(t, err)
				dec, err := restore(c.Dec, decSkip)
				require.NoError(t, err)
				ok := true
				got, err := tok.Encode(text, true)
				require.NoError(t, err)
				ok = ok && assertIDs(t, i, "encode", text, c.IDs, got)
				got, err = tok.Encode(text, false)
				require.NoError(t, err)
				ok = ok && assertIDs(t, i, "encode (no special)", text, plain, got)
				s, err := tok.Decode(c.IDs, false)
				require.NoError(t, err)
				if s != dec {
					ok = false
					t.Errorf("case %d decode: got %q want %q", i, clip(s), clip(dec))
				}
				s, err = tok.Decode(c.IDs, true)
				require.NoError(t, err)
				if s != decSkip {
					ok = false
					t.Errorf("case %d decode (skip special): got %q want %q", i, clip(s), clip(decSkip))
				}
				if !ok {
					fails++
				}
			}
			singles := 0
			for _, sg := range gf.Single {
				var i int
				var dec, decSkip []string
				require.NoError(t, json.Unmarshal(sg[0], &i))
				require.NoError(t, json.Unmarshal(sg[1], &dec))
				require.NoError(t, json.Unmarshal(sg[2], &decSkip))
				require.Less(t, i, len(gf.Cases))
				for k := range dec {
					id := gf.Cases[i].IDs[k]
					got, err := tok.Decode([]int{id}, false)
					require.NoError(t, err)
					require.Equal(t, dec[k], got, "case %d: decode of id %d alone", i, id)
					got, err = tok.Decode([]int{id}, true)
					require.NoError(t, err)
					require.Equal(t, decSkip[k], got, "case %d: decode of id %d alone, skipping specials", i, id)
					singles++
				}
			}
			t.Logf("%s: %d/%d cases match %s; %d single-id decodes match", name, len(gf.Cases)-fails, len(gf.Cases), gf.Oracle, singles)
		})
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func assertIDs(t *testing.T, i int, what, text string, want, got []int) bool {
	t.Helper()
	if len(want) == len(got) {
		same := true
		for k := range want {
			if want[k] != got[k] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	k := 0
	for k < len(want) && k < len(got) && want[k] == got[k] {
		k++
	}
	t.Errorf("case %d %s %q: first difference at %d: got %v want %v", i, what, clip(text), k, got[k:min(len(got), k+8)], want[k:min(len(want), k+8)])
	return false
}
