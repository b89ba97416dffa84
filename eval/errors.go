package eval

import "errors"

// Errors wrapped by the package's failures, so that callers (and the CLI's tests) can tell bad input apart.
var (
	// ErrUnknownTask is wrapped when a task name is not one of TaskNames.
	ErrUnknownTask = errors.New("eval: unknown task")
	// ErrUnknownSampler is wrapped when a sampler name is not known to the engine.
	ErrUnknownSampler = errors.New("eval: unknown sampler")
	// ErrEmptyDataset is wrapped when a task has nothing to evaluate.
	ErrEmptyDataset = errors.New("eval: empty dataset")
	// ErrVocabMismatch is wrapped when the judge and the evaluated model do not share a vocabulary.
	ErrVocabMismatch = errors.New("eval: vocabulary mismatch")
	// ErrNotSudokuModel is wrapped when the model given to the sudoku task cannot be a Sudoku model.
	ErrNotSudokuModel = errors.New("eval: not a Sudoku model")
	// ErrNotTextModel is wrapped when the text tasks get a model whose tokenizer cannot represent the held-out text.
	ErrNotTextModel = errors.New("eval: not a model of this text")
	// ErrBadConfig is wrapped by every other invalid setting.
	ErrBadConfig = errors.New("eval: invalid config")
)
