package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/llada-go/llada"
)

// Puzzle is a 9x9 Sudoku with its unique solution: 81 row-major digits, 0 for a blank in Puzzle.
type Puzzle struct {
	Puzzle   string `json:"puzzle"`
	Solution string `json:"solution"`
}

// LoadPuzzles reads a puzzle file: {"puzzles": [{"puzzle": "...", "solution": "..."}, ...]} (the format of
// models/sudoku/test_puzzles.json) and checks every entry.
func LoadPuzzles(path string) ([]Puzzle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: sudoku puzzles: %w", err)
	}
	var f struct {
		Puzzles []Puzzle `json:"puzzles"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("eval: sudoku puzzles %s: %w", path, err)
	}
	if len(f.Puzzles) == 0 {
		return nil, fmt.Errorf("%w: %s holds no puzzles", ErrEmptyDataset, path)
	}
	for i, p := range f.Puzzles {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("eval: %s puzzle %d: %w", path, i, err)
		}
	}
	return f.Puzzles, nil
}

func (p Puzzle) check() error {
	if len(p.Puzzle) != 81 || len(p.Solution) != 81 {
		return fmt.Errorf("%w: puzzle and solution need 81 digits (got %d and %d)", ErrBadConfig, len(p.Puzzle), len(p.Solution))
	}
	sol := make([]int, 81)
	for i := 0; i < 81; i++ {
		c, s := p.Puzzle[i], p.Solution[i]
		if c < '0' || c > '9' || s < '1' || s > '9' {
			return fmt.Errorf("%w: cell %d: puzzle %q, solution %q are not digits (0 = blank)", ErrBadConfig, i, c, s)
		}
		if c != '0' && c != s {
			return fmt.Errorf("%w: cell %d: given %c contradicts the solution's %c", ErrBadConfig, i, c, s)
		}
		sol[i] = int(s - '0')
	}
	if !ValidGrid(sol) {
		return fmt.Errorf("%w: the solution breaks the Sudoku rules", ErrBadConfig)
	}
	return nil
}

// ValidGrid reports whether grid (81 digits, row-major) is a complete Sudoku: every row, column and 3x3 box
// holds 1..9 once.
func ValidGrid(grid []int) bool {
	if len(grid) != 81 {
		return false
	}
	for u := 0; u < 9; u++ {
		var row, col, box [10]bool
		for v := 0; v < 9; v++ {
			r := grid[u*9+v]
			c := grid[v*9+u]
			b := grid[(u/3*3+v/3)*9+u%3*3+v%3]
			for _, d := range []int{r, c, b} {
				if d < 1 || d > 9 {
					return false
				}
			}
			if row[r] || col[c] || box[b] {
				return false
			}
			row[r], col[c], box[b] = true, true, true
		}
	}
	return true
}

// SudokuCodec maps digits to a model's token ids.
type SudokuCodec struct {
	digit [10]int     // digit -> token id (index 0 unused)
	value map[int]int // token id -> digit
	mask  int
}

// NewSudokuCodec finds the token of each digit 1..9 with the model's tokenizer. A model whose tokenizer has no
// single, distinct token per digit, or whose max_seq_len is under 81, cannot be a Sudoku model.
func NewSudokuCodec(tok llada.Tokenizer, c llada.Contract) (SudokuCodec, error) {
	if c.MaxSeqLen > 0 && c.MaxSeqLen < 81 {
		return SudokuCodec{}, fmt.Errorf("%w: max_seq_len %d is under the 81 cells of a grid", ErrNotSudokuModel, c.MaxSeqLen)
	}
	sc := SudokuCodec{value: map[int]int{}, mask: c.MaskID}
	for d := 1; d <= 9; d++ {
		s := string(rune('0' + d))
		id, ok := tok.TokenID(s)
		if !ok {
			ids, err := tok.Encode(s, false)
			if err != nil || len(ids) != 1 {
				return SudokuCodec{}, fmt.Errorf("%w: the tokenizer has no single token for the digit %s (got %v, %v)", ErrNotSudokuModel, s, ids, err)
			}
			id = ids[0]
		}
		if _, dup := sc.value[id]; dup || id == c.MaskID {
			return SudokuCodec{}, fmt.Errorf("%w: the digit %s shares token %d with another digit or the mask", ErrNotSudokuModel, s, id)
		}
		sc.digit[d], sc.value[id] = id, d
	}
	return sc, nil
}

// Canvas turns a puzzle into model tokens: givens as digit tokens, blanks as the mask.
func (sc SudokuCodec) Canvas(p Puzzle) []int {
	cv := make([]int, 81)
	for i := range cv {
		if d := int(p.Puzzle[i] - '0'); d != 0 {
			cv[i] = sc.digit[d]
		} else {
			cv[i] = sc.mask
		}
	}
	return cv
}

// Grid turns model tokens back into digits; a token that is not a digit becomes 0.
func (sc SudokuCodec) Grid(tokens []int) []int {
	g := make([]int, len(tokens))
	for i, id := range tokens {
		g[i] = sc.value[id]
	}
	return g
}

// legalMass is the mean probability, over the blank cells of the canvases, that the network puts on digits the
// Sudoku rules allow in that cell given the givens. A Sudoku model puts nearly all of it there; a text model
// spreads its mass over its whole vocabulary.
func (sc SudokuCodec) legalMass(ctx context.Context, den llada.Denoiser, c llada.Contract, puzzles []Puzzle) (float64, error) {
	v := den.VocabSize()
	ids := make([]int64, 0, 81*len(puzzles))
	for _, p := range puzzles {
		for _, id := range sc.Canvas(p) {
			ids = append(ids, int64(id))
		}
	}
	logits := make([]float32, len(ids)*v)
	if err := den.Forward(ctx, llada.Batch{IDs: ids, Rows: len(puzzles), Seq: 81}, logits); err != nil {
		return 0, fmt.Errorf("eval: sudoku check forward pass: %w", err)
	}
	total, n := 0.0, 0
	for r, p := range puzzles {
		grid := make([]int, 81)
		for i := range grid {
			grid[i] = int(p.Puzzle[i] - '0')
		}
		for i := 0; i < 81; i++ {
			if grid[i] != 0 {
				continue
			}
			q := i
			if c.LogitsShift && q > 0 {
				q--
			}
			z := logits[(r*81+q)*v : (r*81+q+1)*v]
			mx := math.Inf(-1)
			for _, x := range z {
				mx = math.Max(mx, float64(x))
			}
			sum, legal := 0.0, 0.0
			allowed := candidates(grid, i)
			for id, x := range z {
				e := math.Exp(float64(x) - mx)
				sum += e
				if d, ok := sc.value[id]; ok && allowed[d] {
					legal += e
				}
			}
			if sum > 0 && !math.IsNaN(sum) && !math.IsInf(sum, 0) {
				total += legal / sum
			}
			n++
		}
	}
	if n == 0 {
		return 1, nil
	}
	return total / float64(n), nil
}

// candidates marks the digits not yet used in the row, column and box of cell i.
func candidates(grid []int, i int) [10]bool {
	var ok [10]bool
	for d := 1; d <= 9; d++ {
		ok[d] = true
	}
	r, c := i/9, i%9
	br, bc := r/3*3, c/3*3
	for k := 0; k < 9; k++ {
		ok[grid[r*9+k]] = false
		ok[grid[k*9+c]] = false
		ok[grid[(br+k/3)*9+bc+k%3]] = false
	}
	ok[0] = false
	return ok
}

// minLegalMass is the share of probability on legal digits below which a model is rejected by the sudoku task.
const minLegalMass = 0.5

// SudokuScore summarises decoded grids.
type SudokuScore struct {
	Puzzles  int
	Solved   int     // grids equal to the solution
	Valid    int     // grids that are complete, rule-abiding Sudokus (with the givens kept)
	CellAcc  float64 // share of blank cells decoded to the solution's digit
	MeanNFE  float64 // forward passes per puzzle
	Forwards int
	Seconds  float64
}

// SolvedRate is Solved/Puzzles.
func (s SudokuScore) SolvedRate() float64 { return float64(s.Solved) / float64(s.Puzzles) }

// ValidRate is Valid/Puzzles.
func (s SudokuScore) ValidRate() float64 { return float64(s.Valid) / float64(s.Puzzles) }

// ScoreSudoku compares decoded grids (model tokens) with the puzzles' solutions.
func (sc SudokuCodec) ScoreSudoku(puzzles []Puzzle, decoded [][]int) SudokuScore {
	s := SudokuScore{Puzzles: len(puzzles)}
	blanks, right := 0, 0
	for i, p := range puzzles {
		g := sc.Grid(decoded[i])
		solved, kept := true, true
		for j := 0; j < 81; j++ {
			want := int(p.Solution[j] - '0')
			if p.Puzzle[j] == '0' {
				blanks++
				if g[j] == want {
					right++
				}
			} else if g[j] != want {
				kept = false
			}
			if g[j] != want {
				solved = false
			}
		}
		if solved {
			s.Solved++
		}
		if kept && ValidGrid(g) {
			s.Valid++
		}
	}
	if blanks > 0 {
		s.CellAcc = float64(right) / float64(blanks)
	}
	return s
}

// SolveSudoku decodes the blanks of every puzzle with dec after checking that the model can be a Sudoku model
// (digit tokens, at least 81 positions, and at least half of its probability at blank cells on digits the
// rules allow, measured on up to 8 puzzles).
func SolveSudoku(ctx context.Context, den llada.Denoiser, tok llada.Tokenizer, c llada.Contract, puzzles []Puzzle, dec Decoding, batch int, seed uint64) (SudokuScore, error) {
	if len(puzzles) == 0 {
		return SudokuScore{}, fmt.Errorf("%w: no Sudoku puzzles", ErrEmptyDataset)
	}
	sc, err := NewSudokuCodec(tok, c)
	if err != nil {
		return SudokuScore{}, err
	}
	if err := sc.CheckModel(ctx, den, c, puzzles); err != nil {
		return SudokuScore{}, err
	}
	canvases := make([][]int, len(puzzles))
	for i, p := range puzzles {
		canvases[i] = sc.Canvas(p)
	}
	res, err := Fill(ctx, den, c, canvases, dec, batch, seed)
	if err != nil {
		return SudokuScore{}, err
	}
	s := sc.ScoreSudoku(puzzles, res.Filled)
	s.MeanNFE, s.Forwards, s.Seconds = res.MeanNFE(), res.Forwards, res.Elapsed.Seconds()
	return s, nil
}

// CheckModel fails with ErrNotSudokuModel when the network does not predict legal digits at blank cells.
func (sc SudokuCodec) CheckModel(ctx context.Context, den llada.Denoiser, c llada.Contract, puzzles []Puzzle) error {
	probe := puzzles[:min(8, len(puzzles))]
	mass, err := sc.legalMass(ctx, den, c, probe)
	if err != nil {
		return err
	}
	if mass < minLegalMass {
		return fmt.Errorf("%w: at blank cells it puts %.0f%% of its probability on digits the rules allow (a Sudoku model puts over %.0f%%)",
			ErrNotSudokuModel, 100*mass, 100*minLegalMass)
	}
	return nil
}
