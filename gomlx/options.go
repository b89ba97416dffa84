package gomlx

import "os"

// Devices Open understands.
const (
	// DeviceCPU runs on GoMLX's pure-Go backend ("simplego"): no cgo, no shared libraries, any platform.
	DeviceCPU = "cpu"
	// DeviceCUDA runs through XLA on a PJRT CUDA plugin. It needs a build with -tags pjrt (cgo) and the plugin
	// library (see WithPJRTPlugin).
	DeviceCUDA = "cuda"
)

// PluginEnv names the environment variable read when no WithPJRTPlugin option is given: the path of a PJRT
// plugin shared library (for CUDA, pjrt_c_api_cuda_plugin.so as shipped in the jax-cuda*-pjrt wheels).
const PluginEnv = "LLADA_PJRT_PLUGIN"

// Option configures Open, OpenBytes, OpenModel and OpenModelFS.
type Option func(*config)

type config struct {
	device    string
	plugin    string
	maxShapes int
	getenv    func(string) string
}

func defaultConfig() config {
	return config{device: DeviceCPU, maxShapes: 16, getenv: os.Getenv}
}

// WithDevice chooses where the network runs: DeviceCPU (the default) or DeviceCUDA. Another value is taken
// as the name of a PJRT plugin (as XLA names them: "cpu", "cuda", "rocm", ...) and also needs -tags pjrt.
func WithDevice(device string) Option { return func(c *config) { c.device = device } }

// WithPJRTPlugin gives the PJRT plugin for a non-CPU device: an absolute path to the shared library. Without
// it, $LLADA_PJRT_PLUGIN is read, and then GoMLX's own search (the directories in $PJRT_PLUGIN_LIBRARY_PATH
// and the system library paths, for pjrt_c_api_<device>_plugin.so). Nothing is ever downloaded.
func WithPJRTPlugin(path string) Option { return func(c *config) { c.plugin = path } }

// WithMaxShapes bounds how many compiled executables (one per [rows, seq] shape the model has been run on)
// are kept; the least recently used one is dropped past it. GoMLX compiles a graph per input shape, and a
// generation uses one or two shapes, so the default of 16 covers a server with a few prompt lengths.
func WithMaxShapes(n int) Option { return func(c *config) { c.maxShapes = n } }
