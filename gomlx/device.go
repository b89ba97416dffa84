package gomlx

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// simpleGoConfig configures the pure-Go backend (see newBackend).
const simpleGoConfig = "ops_sequential"

// newBackend creates the GoMLX backend for the configured device and returns the device's name.
func newBackend(c config) (backends.Backend, string, error) {
	switch c.device {
	case "", DeviceCPU:
		if c.plugin != "" {
			return nil, "", fmt.Errorf("gomlx: WithPJRTPlugin(%q) given for device %q; the CPU device runs on the pure-Go "+
				"backend and takes no plugin", c.plugin, DeviceCPU)
		}
		// ops_sequential: simplego v0.26.0's parallel op scheduler decides whether a node may reuse its input
		// buffer by reading the input's use count without the lock its writers hold (backends/simplego/exec.go,
		// executeNode), so two consumers can both take the buffer and one overwrites what the other still reads;
		// the race detector reports it on the brown model. Sequential op order avoids it; the large ops
		// (DotGeneral) still use every core.
		b, err := simplego.New(simpleGoConfig)
		if err != nil {
			return nil, "", fmt.Errorf("gomlx: creating the pure-Go backend: %w", err)
		}
		return b, DeviceCPU, nil
	default:
		plugin := c.plugin
		if plugin == "" {
			plugin = c.getenv(PluginEnv)
		}
		b, err := newPJRT(c.device, plugin)
		if err != nil {
			return nil, "", err
		}
		return b, c.device, nil
	}
}
