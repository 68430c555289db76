//go:build !unix

package build

import "time"

// childCPU is not measured on this OS.
func childCPU() time.Duration { return 0 }
