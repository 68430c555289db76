package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"golang.org/x/sys/cpu"
)

// target is one platform package, a row of the generated table (targets_gen.go,
// from platforms/platforms.go).
type target struct {
	pkg      string // npm package name, "@agent-facets/cli-linux-x64"
	os, cpu  string // Node's names (process.platform, process.arch)
	goos     string // Go's names
	goarch   string
	libc     string // "glibc" or "musl" on Linux, else ""
	baseline bool   // x64 without AVX2 (GOAMD64=v1)
	bin      string // the binary inside the package: "bin/facet" or "bin/facet.exe"
}

// machine is what the choice of package depends on: the facts the launcher's
// detectHost gathers (platforms/npm/lib/platform.js), seen from Go.
type machine struct {
	OS      string // Node's name: linux, darwin, win32
	CPU     string // Node's name: x64, arm64
	Libc    string // Linux: "musl" or "glibc"
	V3      bool   // x64: the CPU has the x86-64-v3 features (AVX2, …)
	Rosetta bool   // an x64 process on Apple silicon
}

// probe is how detect looks at the machine; realProbe is this one, tests pass
// fake machines.
type probe struct {
	GOOS, GOARCH string
	Glob         func(pattern string) []string // file names matching pattern
	Exists       func(name string) bool
	V3           func() bool // the CPU has Go's GOAMD64=v3 features
	Translated   func() bool // sysctl.proc_translated is 1 (darwin)
}

// realProbe looks at this machine.
func realProbe() probe {
	return probe{
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Glob:       func(p string) []string { m, _ := filepath.Glob(p); return m },
		Exists:     func(name string) bool { _, err := os.Stat(name); return err == nil },
		V3:         hasV3,
		Translated: translated,
	}
}

// hasV3 reports whether the CPU (and the OS, for the AVX registers) has what
// Go checks before main in a GOAMD64=v3 binary (runtime/asm_amd64.s): the v2
// set (SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16, LAHF) and AVX, AVX2, BMI1,
// BMI2, F16C, FMA, LZCNT and MOVBE. x/sys/cpu sets HasAVX only when the OS
// saves the AVX registers (OSXSAVE and XCR0), as Go's check requires.
func hasV3() bool {
	x := cpu.X86
	return x.HasSSE3 && x.HasSSSE3 && x.HasSSE41 && x.HasSSE42 && x.HasPOPCNT && x.HasCX16 && x.HasLAHF &&
		x.HasAVX && x.HasAVX2 && x.HasBMI1 && x.HasBMI2 && x.HasF16C && x.HasFMA && x.HasLZCNT && x.HasMOVBE
}

// nodeOS and nodeCPU are Node's names for Go's; "" for one the table has no
// use for.
var (
	nodeOS  = map[string]string{"linux": "linux", "darwin": "darwin", "windows": "win32"}
	nodeCPU = map[string]string{"amd64": "x64", "arm64": "arm64"}
)

// detect returns the machine p sees.
func detect(p probe) machine {
	m := machine{OS: nodeOS[p.GOOS], CPU: nodeCPU[p.GOARCH]}
	if m.OS == "" {
		m.OS = p.GOOS
	}
	if m.CPU == "" {
		m.CPU = p.GOARCH
	}
	if p.GOOS == "linux" {
		m.Libc = libc(p)
	}
	if p.GOARCH == "amd64" {
		m.V3 = p.V3()
		// An x64 facet on an Apple-silicon Mac runs under Rosetta 2: the
		// arm64 build is the one to run.
		m.Rosetta = p.GOOS == "darwin" && p.Translated()
	}
	return m
}

// libc is the C library of a Linux machine, without running ldd, in the
// order of install.sh's host_libc and the launcher's detectLibc: Alpine's
// release file says musl (its gcompat adds a glibc loader name); else
// glibc's loader says glibc (Debian's musl package adds a musl loader beside
// it); else musl's loader says musl; else glibc.
func libc(p probe) string {
	switch {
	case p.Exists("/etc/alpine-release"):
		return "musl"
	case len(p.Glob("/lib*/ld-linux*.so.*")) > 0:
		return "glibc"
	case len(p.Glob("/lib/ld-musl-*.so.1")) > 0:
		return "musl"
	}
	return "glibc"
}

// candidates are the packages that may run on m, best first, in the
// launcher's order (candidates() in platform.js): the native CPU first under
// Rosetta, then the right libc, then the right CPU level.
func candidates(table []target, m machine) []target {
	cpus := []string{m.CPU}
	if m.Rosetta {
		cpus = []string{"arm64", m.CPU}
	}
	rank := func(t target) [3]int {
		var r [3]int
		r[0] = slices.Index(cpus, t.cpu)
		if t.libc != "" && t.libc != m.Libc {
			r[1] = 1
		}
		if t.cpu == "x64" && t.baseline == m.V3 {
			r[2] = 1
		}
		return r
	}
	var out []target
	for _, t := range table {
		if t.os == m.OS && slices.Contains(cpus, t.cpu) {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b target) int {
		ra, rb := rank(a), rank(b)
		for i := range ra {
			if ra[i] != rb[i] {
				return ra[i] - rb[i]
			}
		}
		return 0
	})
	return out
}

// level is the CPU level m runs, for people.
func (m machine) level() string {
	switch {
	case m.CPU != "x64":
		return "n/a"
	case m.V3:
		return "x86-64-v3 (AVX2)"
	}
	return "x86-64 baseline (no AVX2)"
}
