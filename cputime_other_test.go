//go:build !unix

package llada

import "time"

// processCPUTime is unavailable here: the CPU-time metric reads 0.
func processCPUTime() time.Duration { return 0 }
