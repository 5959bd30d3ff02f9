//go:build !unix

package testkit

import "time"

// ProcessCPU is 0 where the process's CPU time is not read (benchmarks then report no cpu-ns/op).
func ProcessCPU() time.Duration { return 0 }
