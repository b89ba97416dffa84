//go:build unix

package llada

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of this process so far: on a shared machine a benchmark's CPU
// time per op moves much less than its wall time, which includes the time it waited for a core.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
