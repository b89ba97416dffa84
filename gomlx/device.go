package gomlx

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// newBackend creates the GoMLX backend for the configured device and returns the device's name.
func newBackend(c config) (backends.Backend, string, error) {
	switch c.device {
	case "", DeviceCPU:
		if c.plugin != "" {
			return nil, "", fmt.Errorf("gomlx: WithPJRTPlugin(%q) given for device %q; the CPU device runs on the pure-Go "+
				"backend and takes no plugin", c.plugin, DeviceCPU)
		}
		b, err := simplego.New("")
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
