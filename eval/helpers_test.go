package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/require"
)

// funcDenoiser is a test double: fill writes the logits of position p of one row given that row's ids.
type funcDenoiser struct {
	vocab int
	fill  func(row []int64, p int, out []float32)
	calls int
}

func (d *funcDenoiser) VocabSize() int { return d.vocab }

func (d *funcDenoiser) Deterministic() bool { return true }

func (d *funcDenoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(in.IDs) != in.Rows*in.Seq || len(logits) != in.Rows*in.Seq*d.vocab {
		return fmt.Errorf("funcDenoiser: bad shapes")
	}
	d.calls++
	for r := 0; r < in.Rows; r++ {
		row := in.IDs[r*in.Seq : (r+1)*in.Seq]
		for p := 0; p < in.Seq; p++ {
			d.fill(row, p, logits[(r*in.Seq+p)*d.vocab:(r*in.Seq+p+1)*d.vocab])
		}
	}
	return nil
}

func testContract(vocab, mask int) llada.Contract {
	return llada.Contract{Version: 1, Family: "masked", MaskID: mask, EOSID: 1, PadID: 2, EOTID: -1, BOSID: -1,
		VocabSize: vocab, MaxSeqLen: 512}
}

// arithmetic sequences: row a holds token 3 + (a+p) mod arithMod at position p. The arithmetic denoiser
// recovers a from the first unmasked position and predicts every position, more confidently near the left,
// so it can only be right when it sees the real positions of the real canvas.
const (
	arithVocab = 40
	arithMask  = 0
	arithMod   = 30
)

func arithSeq(a, n int) []int {
	s := make([]int, n)
	for p := range s {
		s[p] = 3 + (a+p)%arithMod
	}
	return s
}

func arithDenoiser(shift bool) *funcDenoiser {
	return &funcDenoiser{vocab: arithVocab, fill: func(row []int64, p int, out []float32) {
		for i := range out {
			out[i] = 0
		}
		target := p
		if shift {
			target = p + 1 // Dream convention: the output at p predicts p+1
		}
		for q, id := range row {
			if id != arithMask && id >= 3 {
				a := (int(id) - 3 - q + 10*arithMod) % arithMod
				out[3+(a+target)%arithMod] = 10 - float32(target)/8
				return
			}
		}
	}}
}

// wordTokenizer maps token strings "t0".."tN" and any extra names to ids; enough for the eval code paths.
type wordTokenizer struct {
	names []string
}

func (w wordTokenizer) Encode(text string, _ bool) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(text) {
		id, ok := w.TokenID(f)
		if !ok {
			return nil, fmt.Errorf("unknown word %q", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (w wordTokenizer) Decode(ids []int, _ bool) (string, error) {
	parts := make([]string, len(ids))
	for i, id := range ids {
		if id < 0 || id >= len(w.names) {
			return "", fmt.Errorf("id %d out of range", id)
		}
		parts[i] = w.names[id]
	}
	return strings.Join(parts, " "), nil
}

func (w wordTokenizer) VocabSize() int { return len(w.names) }

func (w wordTokenizer) TokenID(s string) (int, bool) {
	for i, n := range w.names {
		if n == s {
			return i, true
		}
	}
	return 0, false
}

// sudokuTokenizer is the Sudoku model's vocabulary: ids 0-8 are digits 1-9, then mask, eos, bos, unk.
func sudokuTokenizer() wordTokenizer {
	names := make([]string, 0, 13)
	for d := 1; d <= 9; d++ {
		names = append(names, strconv.Itoa(d))
	}
	return wordTokenizer{names: append(names, "<mask>", "<eos>", "<bos>", "<unk>")}
}

const sudokuMask = 9

// sudokuSolverDenoiser reasons like a human solver about the current canvas: a cell with one candidate (a
// naked single) gets that digit with probability ~1, a digit that fits only this cell of a row, column or box
// (a hidden single) gets probability ~0.9, and otherwise the candidates share the mass evenly. Confidence
// ordering therefore solves many puzzles, random ordering guesses.
func sudokuSolverDenoiser() *funcDenoiser {
	return &funcDenoiser{vocab: 13, fill: func(row []int64, p int, out []float32) {
		for i := range out {
			out[i] = -30
		}
		grid := make([]int, 81)
		for i, id := range row {
			if id >= 0 && id <= 8 {
				grid[i] = int(id) + 1
			}
		}
		if grid[p] != 0 {
			out[grid[p]-1] = 10
			return
		}
		cand := candidates(grid, p)
		n := 0
		for d := 1; d <= 9; d++ {
			if cand[d] {
				n++
			}
		}
		if n == 0 {
			out[12] = 0 // nothing fits: the solver gives up on the cell
			return
		}
		hidden := hiddenSingle(grid, p, cand)
		for d := 1; d <= 9; d++ {
			switch {
			case !cand[d]:
			case n == 1:
				out[d-1] = 20
			case d == hidden:
				out[d-1] = float32(math.Log(9 * float64(n-1)))
			default:
				out[d-1] = 0
			}
		}
	}}
}

// hiddenSingle returns a candidate digit of cell p that no other empty cell of its row, column or box can
// take, or 0.
func hiddenSingle(grid []int, p int, cand [10]bool) int {
	r, c := p/9, p%9
	units := [3][]int{}
	for k := 0; k < 9; k++ {
		units[0] = append(units[0], r*9+k)
		units[1] = append(units[1], k*9+c)
		units[2] = append(units[2], (r/3*3+k/3)*9+c/3*3+k%3)
	}
	for d := 1; d <= 9; d++ {
		if !cand[d] {
			continue
		}
		for _, u := range units {
			only := true
			for _, q := range u {
				if q != p && grid[q] == 0 && candidates(grid, q)[d] {
					only = false
					break
				}
			}
			if only {
				return d
			}
		}
	}
	return 0
}

func loadTestPuzzles(t testing.TB) []Puzzle {
	t.Helper()
	p, err := LoadPuzzles("../testdata/eval/sudoku_puzzles.json")
	require.NoError(t, err)
	return p
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }
