package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// doctorTimeout bounds doctor's one registry read: offline, it says it could
// not check rather than hang.
const doctorTimeout = 5 * time.Second

// doctor runs `facet doctor`: what this binary is, where it is and how it
// was installed, the package this machine should run and whether this is
// it, and whether a newer release exists. It returns 1 only when something
// is wrong here (an unreadable receipt, no package for this machine); a
// registry it cannot reach is said, not a failure.
func doctor(ctx context.Context, e env, a about) int {
	code := 0
	out := func(label, format string, args ...any) {
		fmt.Fprintf(e.Out, "%-10s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(e.Out, "facet %s (commit %s, %s)\n", a.Version, a.Commit, a.Go)
	out("path", "%s", e.Exe)
	in, err := judge(e.Exe, e.GoVersion)
	if err != nil {
		out("installed", "unknown: %v (fix or remove it, or reinstall with install.sh)", err)
		code = 1
	} else {
		out("installed", "%s", in.describe())
	}
	out("machine", "%s", e.Machine)
	built := a.GOOS + "/" + a.GOARCH
	if a.LevelVar != "" {
		built += " " + a.LevelVar + "=" + a.Level
	}
	cands := candidates(targets, e.Machine)
	if len(cands) == 0 {
		var all []string
		for _, t := range targets {
			all = append(all, strings.TrimPrefix(t.pkg, "@agent-facets/cli-"))
		}
		out("package", "none for this machine; facet is built for %s", strings.Join(all, ", "))
		code = 1
	} else {
		best := cands[0]
		other := -1 // the candidate this binary is, when it is not the best
		for i, c := range cands[1:] {
			if builtFor(c, a) && other < 0 {
				other = i + 1
			}
		}
		switch {
		case builtFor(best, a):
			out("package", "%s (this binary, %s, is built for it)", best.pkg, built)
		case other > 0 && swappedIn(e.Exe, in):
			// The launcher's fast path puts the baseline x64 build in its
			// own place, whichever build it ran: a node_modules restored on
			// a CPU without AVX2 (a CI cache, a volume) keeps working.
			out("package", "%s is this machine's best; this binary is %s (%s), which the npm launcher put in its own place: it runs on every x64 CPU", best.pkg, cands[other].pkg, built)
		case other > 0:
			out("package", "%s is this machine's best; this binary is %s (%s), which runs here too", best.pkg, cands[other].pkg, built)
		default:
			// Said, not failed: it runs (a launcher's fallback may have chosen it).
			out("package", "%s, but this binary is built for %s: reinstall to get the right one", best.pkg, built)
		}
	}
	fromReceipt, tag := "", in.Receipt.tag()
	if in.Receipt != nil {
		fromReceipt = in.Receipt.Registry
	}
	reg := registry{URL: registryURL(e.Getenv, fromReceipt), Client: newHTTPClient(), Agent: "facet/" + a.Version}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	w, err := reg.packument(ctx, wrapperName)
	latest := ""
	if err == nil {
		latest = w.DistTags[tag]
	}
	switch cmp, ok := compareVersions(latest, a.Version); {
	case err != nil:
		out("latest", "could not check (%v)", err)
	case latest == "":
		out("latest", "no %s published on %s", tag, reg.shown())
	case ok && cmp > 0:
		how := "facet self-update"
		switch in.By {
		case byGoInstall:
			how = "go install github.com/agent-facets/facets/cmd/facet@latest"
		case byUnknown:
			// self-update refuses an install it cannot tell.
			how = "install.sh: " + installSh
		case byInstallSh:
		default:
			how = in.updateCommand()
		}
		out("latest", "%s on %s is newer: update with %s", latest, reg.shown(), how)
	case ok && cmp == 0:
		out("latest", "%s on %s: up to date", latest, reg.shown())
	default:
		out("latest", "%s on %s (this one is %s)", latest, reg.shown(), a.Version)
	}
	return code
}

// builtFor reports whether a binary built as a says is the build of t: the
// same Go OS and architecture and, on x64, the same CPU level.
func builtFor(t target, a about) bool {
	if t.goos != a.GOOS || t.goarch != a.GOARCH {
		return false
	}
	if t.cpu == "x64" {
		return (a.Level == "v1" || a.Level == "") == t.baseline
	}
	return true
}

// swappedIn reports whether exe is the agent-facets wrapper's own
// bin/facet, where the npm launcher's fast path puts the binary in place of
// itself, in a package manager's install.
func swappedIn(exe string, in installation) bool {
	switch in.By {
	case byInstallSh, byGoInstall, byUnknown:
		return false
	}
	bin := filepath.Dir(exe)
	return filepath.Base(bin) == "bin" && filepath.Base(filepath.Dir(bin)) == wrapperName
}
