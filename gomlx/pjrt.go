//go:build pjrt && cgo

package gomlx

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// PJRTAvailable reports whether this build can run on PJRT plugins (built with -tags pjrt and cgo).
const PJRTAvailable = true

// newPJRT opens GoMLX's XLA backend on a PJRT plugin: the absolute path plugin when given, else the plugin
// named device found by GoMLX's search ($PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla,
// ~/.local/lib/go-xla, the system library paths). GoMLX's auto-install, which downloads plugins, is turned
// off: a library that fetches binaries at run time surprises its users.
//
// Importing GoMLX's xla package sets TF_CPP_MIN_LOG_LEVEL=2 in its init when unset (to quiet XLA's logs):
// an environment change on import that only builds with -tags pjrt carry.
func newPJRT(device, plugin string) (backends.Backend, error) {
	xla.EnableAutoInstall(false)
	name := device
	if plugin != "" {
		if !filepath.IsAbs(plugin) {
			return nil, fmt.Errorf("gomlx: PJRT plugin %q must be an absolute path to the shared library", plugin)
		}
		name = plugin
	}
	b, err := xla.New(name)
	if err != nil {
		return nil, fmt.Errorf("gomlx: device %q: %w; %s", device, err, pluginHelp(device))
	}
	return b, nil
}
