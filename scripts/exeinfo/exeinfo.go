// Package exeinfo reads what a Go executable says about itself without running
// it: the object file header (ELF, Mach-O or PE), the Go build information, and
// the version stamp that the build links into facet.
package exeinfo

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// StampPrefix starts the version stamp facet carries: the value the build sets
// with -X main.stamp=facetstamp/<version>/<commit>/.
const StampPrefix = "facetstamp/"

// Stamp returns the stamp for version and commit.
func Stamp(version, commit string) string {
	return StampPrefix + version + "/" + commit + "/"
}

// Info is what a binary says about itself.
type Info struct {
	Format string // "ELF", "Mach-O" or "PE"
	GOOS   string // operating system, from the header
	GOARCH string // architecture, from the header

	// Interp is the ELF program interpreter (dynamic loader) the binary asks
	// for, and Libraries the shared libraries it needs; both are empty for a
	// static ELF binary.
	Interp    string
	Libraries []string

	GoVersion string            // Go toolchain that built it
	Settings  map[string]string // build settings: CGO_ENABLED, GOAMD64, -trimpath, …

	// Stamps are the version stamps found in the binary's bytes.
	Stamps []StampValue
}

// StampValue is one version stamp found in a binary.
type StampValue struct{ Version, Commit string }

// Read reads the header, build information and stamps of the binary at path.
func Read(path string) (*Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	info, err := header(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: reading Go build information: %w", path, err)
	}
	info.GoVersion = bi.GoVersion
	info.Settings = make(map[string]string, len(bi.Settings))
	for _, s := range bi.Settings {
		info.Settings[s.Key] = s.Value
	}
	info.Stamps = FindStamps(data)
	return info, nil
}

// header identifies the object format, OS and architecture.
func header(data []byte) (*Info, error) {
	r := bytes.NewReader(data)
	switch {
	case bytes.HasPrefix(data, []byte(elf.ELFMAG)):
		f, err := elf.NewFile(r)
		if err != nil {
			return nil, fmt.Errorf("reading ELF header: %w", err)
		}
		defer f.Close()
		info := &Info{Format: "ELF", GOARCH: elfArch(f.Machine, f.Class, f.Data)}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b, err := io.ReadAll(p.Open())
				if err != nil {
					return nil, fmt.Errorf("reading ELF interpreter: %w", err)
				}
				info.Interp = string(bytes.TrimRight(b, "\x00"))
			}
		}
		info.GOOS = elfOS(f.OSABI, info.Interp)
		libs, err := f.ImportedLibraries()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("reading ELF dynamic section: %w", err)
		}
		info.Libraries = libs
		return info, nil
	case len(data) >= 2 && data[0] == 'M' && data[1] == 'Z':
		f, err := pe.NewFile(r)
		if err != nil {
			return nil, fmt.Errorf("reading PE header: %w", err)
		}
		defer f.Close()
		return &Info{Format: "PE", GOOS: "windows", GOARCH: peArch(f.Machine)}, nil
	default:
		f, err := macho.NewFile(r)
		if err != nil {
			return nil, errors.New("not an ELF, Mach-O or PE executable")
		}
		defer f.Close()
		return &Info{Format: "Mach-O", GOOS: "darwin", GOARCH: machoArch(f.Cpu)}, nil
	}
}

// elfOS is the GOOS an ELF header shows. Go's linker writes the OS ABI of
// FreeBSD, NetBSD and OpenBSD, and ELFOSABI_NONE for every other OS; of
// those, Android and Solaris (and illumos, which Go's solaris binaries also
// run on) show themselves by their dynamic loader, which Go always asks for
// there. An unknown ABI is named as the header names it.
func elfOS(abi elf.OSABI, interp string) string {
	switch abi {
	case elf.ELFOSABI_FREEBSD:
		return "freebsd"
	case elf.ELFOSABI_NETBSD:
		return "netbsd"
	case elf.ELFOSABI_OPENBSD:
		return "openbsd"
	case elf.ELFOSABI_NONE, elf.ELFOSABI_LINUX:
		switch {
		case strings.HasPrefix(interp, "/system/bin/linker"):
			return "android"
		case strings.HasSuffix(interp, "/ld.so.1"):
			return "solaris"
		}
		return "linux"
	}
	return abi.String()
}

// elfArch is the GOARCH of an ELF machine; one machine number covers both
// byte orders (and, for MIPS, both word sizes), which the header's class and
// data tell apart. An unknown machine is named as the header names it.
func elfArch(m elf.Machine, class elf.Class, data elf.Data) string {
	little := data == elf.ELFDATA2LSB
	switch m {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_386:
		return "386"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_LOONGARCH:
		return "loong64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_PPC64:
		if little {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_MIPS:
		arch := "mips"
		if class == elf.ELFCLASS64 {
			arch = "mips64"
		}
		if little {
			arch += "le"
		}
		return arch
	}
	return m.String()
}

// peArch is the GOARCH of a PE machine type.
func peArch(m uint16) string {
	switch m {
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "amd64"
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64"
	case pe.IMAGE_FILE_MACHINE_I386:
		return "386"
	case pe.IMAGE_FILE_MACHINE_ARMNT:
		return "arm"
	}
	return fmt.Sprintf("PE machine %#x", m)
}

// machoArch is the GOARCH of a Mach-O CPU type.
func machoArch(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "amd64"
	case macho.CpuArm64:
		return "arm64"
	}
	return c.String()
}

// FindStamps returns every well-formed stamp in data, in order.
func FindStamps(data []byte) []StampValue {
	var found []StampValue
	prefix := []byte(StampPrefix)
	for rest := data; ; {
		i := bytes.Index(rest, prefix)
		if i < 0 {
			return found
		}
		rest = rest[i+len(prefix):]
		version, after, ok := stampField(rest)
		if !ok {
			continue
		}
		commit, _, ok := stampField(after)
		if !ok {
			continue
		}
		found = append(found, StampValue{Version: version, Commit: commit})
	}
}

// stampField reads one "/"-terminated field of semver or hex characters.
func stampField(b []byte) (field string, rest []byte, ok bool) {
	const maxField = 256
	for i := 0; i < len(b) && i <= maxField; i++ {
		c := b[i]
		switch {
		case c == '/':
			return string(b[:i]), b[i+1:], i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '+':
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}
