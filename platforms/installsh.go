package platforms

import "strings"

// InstallScriptPath is where install.sh, the installer for machines without
// Node, lives in the repository (and in the wrapper package).
const InstallScriptPath = "install.sh"

// InstallTable renders [All] as install.sh's table; see [Table.InstallTable].
func InstallTable() string { return All().InstallTable() }

// InstallTable renders the targets as the body of install.sh's generated
// section: the shell variable PLATFORMS, one package a line as
// "os cpu libc level package binary", with Node's names (win32, x64), "-"
// for a libc or level that does not apply, and level v3 or baseline on x64.
// install.sh ranks these lines exactly as the launcher ranks lib/platforms.json.
func (tb Table) InstallTable() string {
	var b strings.Builder
	b.WriteString("PLATFORMS='\n")
	for _, t := range tb {
		libc, level := "-", "-"
		if t.Libc != "" {
			libc = string(t.Libc)
		}
		if t.CPU == "x64" {
			level = "v3"
			if t.Baseline {
				level = "baseline"
			}
		}
		b.WriteString(strings.Join([]string{t.OS, t.CPU, libc, level, t.Package(), t.BinPath()}, " ") + "\n")
	}
	b.WriteString("'\n")
	return b.String()
}
