package build

import (
	"os/exec"
	"runtime"

	"golang.org/x/sys/cpu"

	"github.com/agent-facets/facets/platforms"
)

// Host is what the build machine can execute.
type Host struct {
	platforms.Host
	// QemuAarch64 and QemuX8664 are the paths of Debian's qemu-user emulators
	// (package qemu-user), or empty when they are not installed. With them a
	// Linux host also runs the linux-arm64 binaries, and runs the x64 ones on an
	// emulated CPU without AVX2.
	QemuAarch64, QemuX8664 string
}

// DetectHost describes the machine this process runs on.
func DetectHost() Host {
	h := Host{Host: platforms.Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}}
	if runtime.GOARCH == "amd64" {
		h.AMD64Level = amd64Level()
	}
	if runtime.GOOS == "linux" {
		h.QemuAarch64, _ = exec.LookPath("qemu-aarch64")
		h.QemuX8664, _ = exec.LookPath("qemu-x86_64")
	}
	return h
}

// amd64Level is the highest GOAMD64 level this CPU supports, by the feature
// lists of https://go.dev/wiki/MinimumRequirements#amd64.
func amd64Level() int {
	x := cpu.X86
	v2 := x.HasCX16 && x.HasLAHF && x.HasPOPCNT && x.HasSSE3 && x.HasSSE41 && x.HasSSE42 && x.HasSSSE3
	v3 := v2 && x.HasAVX && x.HasAVX2 && x.HasBMI1 && x.HasBMI2 && x.HasF16C && x.HasFMA && x.HasLZCNT && x.HasMOVBE && x.HasOSXSAVE
	v4 := v3 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512CD && x.HasAVX512DQ && x.HasAVX512VL
	switch {
	case v4:
		return 4
	case v3:
		return 3
	case v2:
		return 2
	}
	return 1
}
