package dist

import "path/filepath"

// Tool is where CI keeps the build tool compiled once (go tool mage -compile),
// so that the jobs after the one that compiled it run it without compiling it
// again. It is a binary for the machine that compiled it.
func (l Layout) Tool() string { return filepath.Join(l.Root, "tool", "mage") }
