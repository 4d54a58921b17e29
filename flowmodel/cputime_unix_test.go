//go:build unix

package flowmodel

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) this process has used. The
// benchmarks divide work by it as well as by wall time: on a machine shared
// with other jobs, wall time charges the benchmark for the others' work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
