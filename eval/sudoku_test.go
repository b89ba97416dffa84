package eval

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidGrid(t *testing.T) {
	p := loadTestPuzzles(t)[0]
	sol := make([]int, 81)
	for i := range sol {
		sol[i] = int(p.Solution[i] - '0')
	}
	assert.True(t, ValidGrid(sol))
	bad := append([]int(nil), sol...)
	bad[0], bad[1] = bad[1], bad[0] // swapping two cells of a row breaks both columns
	assert.False(t, ValidGrid(bad))
	bad = append([]int(nil), sol...)
	bad[40] = 0
	assert.False(t, ValidGrid(bad), "incomplete")
	assert.False(t, ValidGrid(sol[:80]))
}

func TestSudokuOrderMatters(t *testing.T) {
	puzzles := loadTestPuzzles(t)
	tok := sudokuTokenizer()
	c := testContract(13, sudokuMask)
	c.MaxSeqLen = 81
	scores := map[string]SudokuScore{}
	for _, s := range []string{"llada-low-confidence", "llada-random"} {
		sc, err := SolveSudoku(context.Background(), sudokuSolverDenoiser(), tok, c, puzzles, Decoding{Sampler: s}, 16, 5)
		require.NoError(t, err)
		scores[s] = sc
		assert.Equal(t, len(puzzles), sc.Puzzles)
		assert.Greater(t, sc.MeanNFE, 30.0, "one forward pass per blank")
		t.Logf("%s: solved %d/%d valid %d cell acc %.3f nfe %.1f", s, sc.Solved, sc.Puzzles, sc.Valid, sc.CellAcc, sc.MeanNFE)
	}
	conf, random := scores["llada-low-confidence"], scores["llada-random"]
	assert.GreaterOrEqual(t, conf.SolvedRate(), 0.9, "confident cells first = solving by singles")
	assert.Less(t, random.SolvedRate(), 0.5, "random order has to guess")
	assert.Equal(t, conf.Solved, conf.Valid, "unique solutions: every valid grid is the solution")
	assert.Greater(t, conf.CellAcc, random.CellAcc)
}

func TestScoreSudoku(t *testing.T) {
	puzzles := loadTestPuzzles(t)[:2]
	sc, err := NewSudokuCodec(sudokuTokenizer(), testContract(13, sudokuMask))
	require.NoError(t, err)
	solved := sc.Canvas(Puzzle{Puzzle: puzzles[0].Solution, Solution: puzzles[0].Solution})
	wrong := sc.Canvas(puzzles[1]) // blanks left masked: no digit
	s := sc.ScoreSudoku(puzzles, [][]int{solved, wrong})
	assert.Equal(t, 1, s.Solved)
	assert.Equal(t, 1, s.Valid)
	blanks0, blanks1 := 0, 0
	for i := 0; i < 81; i++ {
		if puzzles[0].Puzzle[i] == '0' {
			blanks0++
		}
		if puzzles[1].Puzzle[i] == '0' {
			blanks1++
		}
	}
	assert.InDelta(t, float64(blanks0)/float64(blanks0+blanks1), s.CellAcc, 1e-12)
}

func TestSudokuRejectsOtherModels(t *testing.T) {
	puzzles := loadTestPuzzles(t)
	c := testContract(13, sudokuMask)
	uniform := &funcDenoiser{vocab: 13, fill: func(_ []int64, _ int, out []float32) {
		for i := range out {
			out[i] = 0
		}
	}}
	_, err := SolveSudoku(context.Background(), uniform, sudokuTokenizer(), c, puzzles, Decoding{Sampler: "llada-random"}, 8, 0)
	require.ErrorIs(t, err, ErrNotSudokuModel)
	assert.Contains(t, err.Error(), "probability on digits the rules allow")

	words := wordTokenizer{names: []string{"<mask>", "a", "b", "c"}}
	_, err = SolveSudoku(context.Background(), uniform, words, testContract(4, 0), puzzles, Decoding{Sampler: "llada-random"}, 8, 0)
	require.ErrorIs(t, err, ErrNotSudokuModel)
	assert.Contains(t, err.Error(), "no single token for the digit 1")

	short := c
	short.MaxSeqLen = 64
	_, err = SolveSudoku(context.Background(), sudokuSolverDenoiser(), sudokuTokenizer(), short, puzzles, Decoding{Sampler: "llada-random"}, 8, 0)
	require.ErrorIs(t, err, ErrNotSudokuModel)
	assert.Contains(t, err.Error(), "max_seq_len 64")

	_, err = SolveSudoku(context.Background(), sudokuSolverDenoiser(), sudokuTokenizer(), c, nil, Decoding{Sampler: "llada-random"}, 8, 0)
	require.ErrorIs(t, err, ErrEmptyDataset)
}

func TestLoadPuzzlesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	good := loadTestPuzzles(t)[0]
	for _, tc := range []struct {
		name, body string
		want       error
		msg        string
	}{
		{"empty.json", `{"puzzles": []}`, ErrEmptyDataset, "no puzzles"},
		{"short.json", `{"puzzles": [{"puzzle": "123", "solution": "123"}]}`, ErrBadConfig, "81 digits"},
		{"contradiction.json", `{"puzzles": [{"puzzle": "` + flip(good.Solution) + `", "solution": "` + good.Solution + `"}]}`, ErrBadConfig, "contradicts"},
		{"invalid.json", `{"puzzles": [{"puzzle": "` + zeros() + `", "solution": "` + ones() + `"}]}`, ErrBadConfig, "breaks the Sudoku rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPuzzles(write(tc.name, tc.body))
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err := LoadPuzzles(write("notjson.json", "{"))
	require.Error(t, err)
	_, err = LoadPuzzles(filepath.Join(dir, "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func flip(s string) string {
	b := []byte(s)
	b[0] = '0' + (b[0]-'0')%9 + 1
	return string(b)
}

func zeros() string { return string(make81('0')) }
func ones() string  { return string(make81('1')) }
func make81(c byte) []byte {
	b := make([]byte, 81)
	for i := range b {
		b[i] = c
	}
	return b
}
