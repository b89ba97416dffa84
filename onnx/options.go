package onnx

import "fmt"

// Option configures Open and OpenBytes.
type Option func(*config)

type config struct {
	libraryPath  string
	intraThreads int
	optimization GraphOptimization
	cuda         bool
	cudaDevice   int
	noSpin       bool
}

// GraphOptimization is ONNX Runtime's graph optimisation level. The zero value is GraphOptimizationAll, the
// runtime's own default, so that a zero config is the fast one.
type GraphOptimization int

const (
	GraphOptimizationAll GraphOptimization = iota
	GraphOptimizationDisabled
	GraphOptimizationBasic
	GraphOptimizationExtended
)

func (g GraphOptimization) String() string {
	switch g {
	case GraphOptimizationAll:
		return "all"
	case GraphOptimizationDisabled:
		return "disabled"
	case GraphOptimizationBasic:
		return "basic"
	case GraphOptimizationExtended:
		return "extended"
	}
	return fmt.Sprintf("GraphOptimization(%d)", int(g))
}

// WithLibraryPath names the ONNX Runtime shared library explicitly; it wins over every other place LibraryPath
// looks. The library is loaded once per process: a later session asking for a different file is an error.
func WithLibraryPath(path string) Option { return func(c *config) { c.libraryPath = path } }

// WithIntraOpThreads sets the number of threads one operator may use; 0 keeps ONNX Runtime's default (one per
// physical core). Negative values are rejected by Open.
func WithIntraOpThreads(n int) Option { return func(c *config) { c.intraThreads = n } }

// WithThreadSpinning controls whether ONNX Runtime's intra-op worker threads busy-wait for work after a run
// (the runtime's default: enabled). Between forwards a sampler runs in Go; on few cores, spinning workers
// compete with it, so disabling spinning can make a generation loop faster even though each run may start a
// little slower. Only matters with more than one intra-op thread.
func WithThreadSpinning(enabled bool) Option { return func(c *config) { c.noSpin = !enabled } }

// WithGraphOptimization sets the graph optimisation level (default GraphOptimizationAll).
func WithGraphOptimization(level GraphOptimization) Option {
	return func(c *config) { c.optimization = level }
}

// WithCUDA asks for the CUDA execution provider on the given device, with the CPU provider as fallback for
// operators CUDA lacks. Open fails with a clear error when the loaded library was built without CUDA, which is
// the case for the CPU library scripts/install-onnxruntime.sh installs.
func WithCUDA(deviceID int) Option {
	return func(c *config) { c.cuda, c.cudaDevice = true, deviceID }
}

func newConfig(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.intraThreads < 0 {
		return c, fmt.Errorf("onnx: WithIntraOpThreads(%d): want 0 (runtime default) or a positive count", c.intraThreads)
	}
	if c.optimization < GraphOptimizationAll || c.optimization > GraphOptimizationExtended {
		return c, fmt.Errorf("onnx: unknown graph optimisation level %d", int(c.optimization))
	}
	if c.cuda && c.cudaDevice < 0 {
		return c, fmt.Errorf("onnx: WithCUDA(%d): device id must be non-negative", c.cudaDevice)
	}
	return c, nil
}
