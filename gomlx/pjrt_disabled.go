//go:build !(pjrt && cgo)

package gomlx

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
)

// PJRTAvailable reports whether this build can run on PJRT plugins (built with -tags pjrt and cgo).
const PJRTAvailable = false

// newPJRT fails: the XLA backend needs cgo and is compiled in only with -tags pjrt.
func newPJRT(device, _ string) (backends.Backend, error) {
	return nil, fmt.Errorf("gomlx: device %q needs GoMLX's XLA/PJRT backend, which this binary was built without: "+
		"rebuild with CGO_ENABLED=1 and -tags pjrt (the llada CLI: -tags gomlx,pjrt); %s", device, pluginHelp(device))
}
