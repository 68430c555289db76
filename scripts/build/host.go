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
	// Qemu maps a GOARCH to the path of Debian's qemu-user emulator for it
	// (package qemu-user); an architecture without one is absent. With them a
	// Linux host also runs the Linux binaries of other architectures, and runs
	// the x64 ones on an emulated CPU without AVX2.
	Qemu map[string]string
}

// QemuName is the name of qemu-user's emulator for goarch: qemu-aarch64 for
// arm64, qemu-x86_64 for amd64, and so on; "" when qemu-user has none.
func QemuName(goarch string) string { return qemuNames()[goarch] }

// qemuNames maps every GOARCH qemu-user emulates to its emulator's name.
func qemuNames() map[string]string {
	return map[string]string{
		"386": "qemu-i386", "amd64": "qemu-x86_64", "arm": "qemu-arm", "arm64": "qemu-aarch64",
		"loong64": "qemu-loongarch64", "mips": "qemu-mips", "mipsle": "qemu-mipsel",
		"mips64": "qemu-mips64", "mips64le": "qemu-mips64el", "ppc64": "qemu-ppc64",
		"ppc64le": "qemu-ppc64le", "riscv64": "qemu-riscv64", "s390x": "qemu-s390x",
	}
}

// DetectHost describes the machine this process runs on.
func DetectHost() Host {
	h := Host{Host: platforms.Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}}
	if runtime.GOARCH == "amd64" {
		h.AMD64Level = amd64Level()
	}
	if runtime.GOOS == "linux" {
		h.Qemu = map[string]string{}
		for goarch, name := range qemuNames() {
			if path, err := exec.LookPath(name); err == nil {
				h.Qemu[goarch] = path
			}
		}
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
