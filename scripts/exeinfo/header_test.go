package exeinfo

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The headers Go's linker writes, one per OS ABI, machine, word size and byte
// order it emits, as go1.26.8 wrote them for an empty main package built with
// CGO_ENABLED=0 (read with debug/elf): FreeBSD, NetBSD and OpenBSD set their
// OS ABI; Linux, Android, Solaris, illumos and DragonFly leave it NONE, and
// Android and Solaris/illumos ask for their system's loader. The few real
// binaries are built by TestReadRealBinaries and by the test that adds rows
// to the platforms table (scripts/npmpkg); building every port for real
// would cost minutes of CPU per run.
func TestHeaderOfEveryPort(t *testing.T) {
	tests := []struct {
		goos, goarch string
		abi          elf.OSABI
		machine      elf.Machine
		class        elf.Class
		order        elf.Data
		interp       string
	}{
		{"linux", "amd64", elf.ELFOSABI_NONE, elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"linux", "386", elf.ELFOSABI_NONE, elf.EM_386, elf.ELFCLASS32, elf.ELFDATA2LSB, ""},
		{"linux", "arm64", elf.ELFOSABI_NONE, elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"linux", "arm", elf.ELFOSABI_NONE, elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB, ""},
		{"linux", "riscv64", elf.ELFOSABI_NONE, elf.EM_RISCV, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"linux", "loong64", elf.ELFOSABI_NONE, elf.EM_LOONGARCH, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"linux", "s390x", elf.ELFOSABI_NONE, elf.EM_S390, elf.ELFCLASS64, elf.ELFDATA2MSB, ""},
		{"linux", "ppc64", elf.ELFOSABI_NONE, elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2MSB, ""},
		{"linux", "ppc64le", elf.ELFOSABI_NONE, elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"linux", "mips", elf.ELFOSABI_NONE, elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2MSB, ""},
		{"linux", "mipsle", elf.ELFOSABI_NONE, elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2LSB, ""},
		{"linux", "mips64", elf.ELFOSABI_NONE, elf.EM_MIPS, elf.ELFCLASS64, elf.ELFDATA2MSB, ""},
		{"linux", "mips64le", elf.ELFOSABI_NONE, elf.EM_MIPS, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"freebsd", "amd64", elf.ELFOSABI_FREEBSD, elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"freebsd", "arm", elf.ELFOSABI_FREEBSD, elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB, ""},
		{"netbsd", "arm64", elf.ELFOSABI_NETBSD, elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB, ""},
		{"openbsd", "amd64", elf.ELFOSABI_OPENBSD, elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB, "/usr/libexec/ld.so"},
		{"android", "arm64", elf.ELFOSABI_NONE, elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB, "/system/bin/linker64"},
		{"solaris", "amd64", elf.ELFOSABI_NONE, elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB, "/lib/amd64/ld.so.1"},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+tt.goarch, func(t *testing.T) {
			info, err := header(elfHeader(t, tt.abi, tt.machine, tt.class, tt.order, tt.interp))
			require.NoError(t, err)
			assert.Equal(t, []string{"ELF", tt.goos, tt.goarch, tt.interp}, []string{info.Format, info.GOOS, info.GOARCH, info.Interp})
		})
	}

	for m, goarch := range map[uint16]string{
		pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64",
		pe.IMAGE_FILE_MACHINE_I386: "386", pe.IMAGE_FILE_MACHINE_ARMNT: "arm",
	} {
		info, err := header(peHeader(m))
		require.NoError(t, err)
		assert.Equal(t, []string{"PE", "windows", goarch}, []string{info.Format, info.GOOS, info.GOARCH})
	}
	for c, goarch := range map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"} {
		info, err := header(machoHeader(c))
		require.NoError(t, err)
		assert.Equal(t, []string{"Mach-O", "darwin", goarch}, []string{info.Format, info.GOOS, info.GOARCH})
	}

	// What no port of Go writes is named as the header names it, so that a
	// comparison with the target fails and says what the binary is.
	info, err := header(elfHeader(t, elf.ELFOSABI_HPUX, elf.EM_SPARCV9, elf.ELFCLASS64, elf.ELFDATA2MSB, ""))
	require.NoError(t, err)
	assert.Equal(t, []string{"ELFOSABI_HPUX", "EM_SPARCV9"}, []string{info.GOOS, info.GOARCH})
	info, err = header(peHeader(pe.IMAGE_FILE_MACHINE_RISCV64))
	require.NoError(t, err)
	assert.Equal(t, "PE machine 0x5064", info.GOARCH)
}

// elfHeader is an ELF executable's header, with one PT_INTERP program header
// naming interp when interp is not empty.
func elfHeader(t *testing.T, abi elf.OSABI, m elf.Machine, class elf.Class, data elf.Data, interp string) []byte {
	t.Helper()
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(class), byte(data), byte(elf.EV_CURRENT), byte(abi)}
	var phnum uint16
	if interp != "" {
		phnum = 1
	}
	var b bytes.Buffer
	w := func(v any) { require.NoError(t, binary.Write(&b, order, v)) }
	if class == elf.ELFCLASS64 {
		const ehsize, phsize = 64, 56
		w(elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: 1,
			Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: phnum, Shentsize: 64})
		if interp != "" {
			w(elf.Prog64{Type: uint32(elf.PT_INTERP), Off: ehsize + phsize, Filesz: uint64(len(interp) + 1), Memsz: uint64(len(interp) + 1)})
		}
	} else {
		const ehsize, phsize = 52, 32
		w(elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: 1,
			Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: phnum, Shentsize: 40})
		if interp != "" {
			w(elf.Prog32{Type: uint32(elf.PT_INTERP), Off: ehsize + phsize, Filesz: uint32(len(interp) + 1), Memsz: uint32(len(interp) + 1)})
		}
	}
	if interp != "" {
		b.WriteString(interp + "\x00")
	}
	return b.Bytes()
}

// peHeader is a PE file's DOS stub and COFF header for machine m.
func peHeader(m uint16) []byte {
	b := make([]byte, 0x60) // debug/pe reads a 96-byte DOS header
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x60)
	b = append(b, 'P', 'E', 0, 0)
	var coff bytes.Buffer
	_ = binary.Write(&coff, binary.LittleEndian, pe.FileHeader{Machine: m})
	// pe.NewFile reads the string table after the (empty) symbol table: 4 bytes of size.
	return append(append(b, coff.Bytes()...), 4, 0, 0, 0)
}

// machoHeader is a 64-bit Mach-O executable's header for CPU c.
func machoHeader(c macho.Cpu) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, macho.FileHeader{Magic: macho.Magic64, Cpu: c, Type: macho.TypeExec})
	return append(b.Bytes(), 0, 0, 0, 0) // the 64-bit header's reserved word
}
