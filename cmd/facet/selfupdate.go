package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// env is what the commands read of the process: tests build one.
type env struct {
	Getenv  func(string) string
	Exe     string // this executable, symlinks resolved
	Version string // this binary's version
	// GoVersion is true when the build information has a module version
	// (go install …@vX.Y.Z).
	GoVersion bool
	GOOS      string
	Machine   machine
	Out, Err  io.Writer
}

// release is a version of facet chosen for this machine, as the registry's
// origin describes it.
type release struct {
	Version   string
	Target    target
	Integrity string // sha512-<base64>
	Tarball   string // URL
}

// resolve chooses the version (want, else the wrapper's dist-tag tag) and
// this machine's package in it, and reads where its tarball is (the contract
// in install.sh's comments: the same steps).
func resolve(ctx context.Context, r registry, m machine, want, tag string) (release, error) {
	w, err := r.packument(ctx, wrapperName)
	if err != nil {
		return release{}, err
	}
	v := want
	if v == "" {
		if v = w.DistTags[tag]; v == "" {
			return release{}, fmt.Errorf("%s on %s has no dist-tag %s", wrapperName, r.shown(), tag)
		}
	}
	wv, ok := w.Versions[v]
	if !ok {
		return release{}, fmt.Errorf("%s@%s is not published on %s (latest: %s)", wrapperName, v, r.shown(), orNone(w.DistTags["latest"]))
	}
	cands := candidates(targets, m)
	var names []string
	for _, c := range cands {
		names = append(names, c.pkg)
	}
	i := slices.IndexFunc(cands, func(t target) bool { _, ok := wv.OptionalDependencies[t.pkg]; return ok })
	if i < 0 {
		return release{}, fmt.Errorf("%s@%s has no package for this machine (%s): it lists none of %s", wrapperName, v, m, orNone(strings.Join(names, ", ")))
	}
	t := cands[i]
	if got := wv.OptionalDependencies[t.pkg]; got != v {
		return release{}, fmt.Errorf("%s@%s lists %s@%s, not %s: an incomplete release, not installed", wrapperName, v, t.pkg, got, v)
	}
	p, err := r.packument(ctx, t.pkg)
	if err != nil {
		return release{}, err
	}
	pv, ok := p.Versions[v]
	if !ok {
		return release{}, fmt.Errorf("%s@%s is not published on %s, though %s@%s lists it", t.pkg, v, r.shown(), wrapperName, v)
	}
	if !strings.HasPrefix(pv.Dist.Integrity, "sha512-") || pv.Dist.Tarball == "" {
		return release{}, fmt.Errorf("%s@%s on %s has no sha512 integrity and tarball (integrity %q)", t.pkg, v, r.shown(), pv.Dist.Integrity)
	}
	return release{Version: v, Target: t, Integrity: pv.Dist.Integrity, Tarball: pv.Dist.Tarball}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// String describes m for people: "linux x64, glibc, x86-64-v3 (AVX2)".
func (m machine) String() string {
	parts := []string{m.OS + " " + m.CPU}
	if m.Libc != "" {
		parts = append(parts, m.Libc)
	}
	if m.CPU == "x64" {
		parts = append(parts, m.level())
	}
	if m.Rosetta {
		parts = append(parts, "under Rosetta 2")
	}
	return strings.Join(parts, ", ")
}

// tempPrefix starts the names of self-update's temporary files in the
// install directory; a run removes those an interrupted one left.
const tempPrefix = ".facet-update-"

// installSh is the command that installs facet without Node, for the
// messages that send people to it.
const installSh = "curl -fsSL https://raw.githubusercontent.com/agent-facets/facets/main/install.sh | sh"

// selfUpdateHelp is `facet self-update --help`.
const selfUpdateHelp = `Usage: facet self-update [--version X.Y.Z | --tag TAG] [--dry-run]

Updates facet where install.sh put it, as install.sh does: the release's
wrapper must list this machine's package at that version, the tarball must
match the registry's sha512 integrity, and the new binary must run and say
its version before it replaces this one (one rename; on Windows the running
facet.exe is renamed aside first, to facet.exe.old-<hex>, which a later start
of facet removes). It never
downgrades unless --version names an older version. Installed by npm, pnpm,
yarn, bun or go install, it prints that tool's update command instead and
changes nothing.

  --version X.Y.Z  install this version (an older one too)
  --tag TAG        follow this dist-tag (default: the receipt's "tag", else latest)
  --dry-run        say what would be done, change nothing

The registry: FACET_REGISTRY, else the one in the install receipt
(.facet-install.json beside facet), else npm_config_registry, else
https://registry.npmjs.org. Credentials in its URL are used, never printed
nor saved.

If an update on Windows was stopped between its two renames and facet.exe is
gone, run install.sh again:
  ` + installSh + `
`

// selfUpdate runs `facet self-update [--version X | --tag T] [--dry-run]`.
func selfUpdate(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("self-update", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are ours, in one line
	want := fs.String("version", "", "")
	tag := fs.String("tag", "", "")
	dry := fs.Bool("dry-run", false, "")
	bad := func(format string, a ...any) int {
		fmt.Fprintf(e.Err, "facet self-update: "+format+" (see facet self-update --help)\n", a...)
		return 2
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.Out, selfUpdateHelp)
		return 0
	} else if err != nil {
		return bad("%v", err)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	*want = strings.TrimPrefix(*want, "v")
	if *want != "" {
		if _, ok := parseVersion(*want); !ok {
			return bad("--version %q is not a version X.Y.Z[-pre]", *want)
		}
		if *tag != "" {
			return bad("--version and --tag name a version each: give one")
		}
	}
	in, err := judge(e.Exe, e.GoVersion)
	if err != nil {
		fmt.Fprintf(e.Err, "facet self-update: %v (fix or remove it, or reinstall: %s)\n", err, installSh)
		return 1
	}
	switch in.By {
	case byInstallSh:
	case byGoInstall:
		// Nothing failed: go install has its own way to update, which is
		// the answer; the same holds for package managers below.
		fmt.Fprintf(e.Out, "facet %s at %s was installed by go install; update it with:\n  go install github.com/agent-facets/facets/cmd/facet@latest\n", e.Version, e.Exe)
		return 0
	case byUnknown:
		fmt.Fprintf(e.Err, "facet self-update: %s was not installed by install.sh (no %s beside it names it) nor by a package manager; reinstall with: %s\n", e.Exe, receiptName, installSh)
		return 1
	default:
		where := "globally"
		if !in.Global {
			where = "in the project " + in.Project
		}
		fmt.Fprintf(e.Out, "facet %s at %s was installed by %s %s; update it with %s:\n  %s\n", e.Version, e.Exe, in.By, where, in.By, in.updateCommand())
		return 0
	}

	if *tag == "" {
		*tag = in.Receipt.tag()
	}
	reg := registry{URL: registryURL(e.Getenv, in.Receipt.Registry), Client: newHTTPClient(), Agent: "facet/" + e.Version}
	rel, err := resolve(ctx, reg, e.Machine, *want, *tag)
	if err != nil {
		fmt.Fprintf(e.Err, "facet self-update: %v; nothing was changed\n", err)
		return 1
	}
	cmp, ok := compareVersions(rel.Version, e.Version)
	samePackage := in.Receipt.Package == rel.Target.pkg
	switch {
	case ok && cmp == 0 && samePackage:
		fmt.Fprintf(e.Out, "facet %s is up to date (%s@%s on %s)\n", e.Version, rel.Target.pkg, rel.Version, reg.shown())
		return 0
	case ok && cmp < 0 && *want == "":
		fmt.Fprintf(e.Out, "facet %s is newer than %s@%s (%s) on %s: not downgraded (name it with --version to go back)\n", e.Version, wrapperName, *tag, rel.Version, reg.shown())
		return 0
	}
	if *dry {
		fmt.Fprintf(e.Out, "would replace %s (facet %s, %s) with %s@%s from %s (%s); nothing was changed\n",
			e.Exe, e.Version, orNone(in.Receipt.Package), rel.Target.pkg, rel.Version, reg.shown(), rel.Integrity)
		return 0
	}
	if err := install(ctx, reg, e, rel); err != nil {
		fmt.Fprintf(e.Err, "facet self-update: %v\n", err)
		return 1
	}
	r := *in.Receipt
	// The receipt is readable by all: the registry goes in without credentials.
	r.Version, r.Package, r.Registry, r.Binary, r.Tag = rel.Version, rel.Target.pkg, reg.shown(), e.Exe, *tag
	if err := writeReceipt(filepath.Dir(e.Exe), r); err != nil {
		fmt.Fprintf(e.Err, "facet self-update: facet %s is installed, but its receipt was not updated: %v\n", rel.Version, err)
		return 1
	}
	fmt.Fprintf(e.Out, "facet %s → %s: %s@%s installed at %s\n", e.Version, rel.Version, rel.Target.pkg, rel.Version, e.Exe)
	return 0
}

// install downloads rel's tarball into the install directory, checks its
// integrity before reading it, unpacks the binary beside e.Exe, runs its
// --version and moves it over e.Exe.
func install(ctx context.Context, reg registry, e env, rel release) error {
	dir := filepath.Dir(e.Exe)
	removeLeftovers(dir, time.Now())
	name := rel.Target.pkg + "@" + rel.Version
	tgz, err := os.CreateTemp(dir, tempPrefix+"*.tgz")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w; nothing was changed", dir, err)
	}
	defer os.Remove(tgz.Name())
	defer tgz.Close()
	h := sha512.New()
	if err := reg.download(ctx, reg.withCredentials(rel.Tarball), "", io.MultiWriter(tgz, h)); err != nil {
		return fmt.Errorf("downloading %s: %w; nothing was changed", name, err)
	}
	if got := "sha512-" + base64.StdEncoding.EncodeToString(h.Sum(nil)); got != rel.Integrity {
		return fmt.Errorf("refused %s: its tarball is %s, the registry's integrity is %s; nothing was changed", name, got, rel.Integrity)
	}
	if _, err := tgz.Seek(0, io.SeekStart); err != nil {
		return err
	}
	bin, err := createTempBinary(dir, e.GOOS)
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w; nothing was changed", dir, err)
	}
	defer os.Remove(bin.Name()) // a no-op once renamed
	err = unpack(tgz, "package/"+rel.Target.bin, bin)
	if cerr := bin.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(bin.Name(), 0o755)
	}
	if err != nil {
		return fmt.Errorf("unpacking %s: %w; nothing was changed", name, err)
	}
	if err := checkVersion(ctx, bin.Name(), rel.Version); err != nil {
		return fmt.Errorf("the new binary of %s %w; nothing was changed", name, err)
	}
	if err := swapIn(e.GOOS, bin.Name(), e.Exe); err != nil {
		return fmt.Errorf("moving %s into place: %w", name, err)
	}
	return nil
}

// createTempBinary creates the file the new binary is unpacked into, in
// dir: on Windows its name ends in .exe, so that CreateProcess runs it (its
// --version is checked before the swap) and antivirus scanners treat it as the
// program it is.
func createTempBinary(dir, goos string) (*os.File, error) {
	suffix := ""
	if goos == "windows" {
		suffix = ".exe"
	}
	return os.CreateTemp(dir, tempPrefix+"*"+suffix)
}

// leftoverAge is how old a temporary file must be before another run
// removes it: a younger one may belong to a self-update still running.
const leftoverAge = time.Minute

// removeLeftovers removes the temporary files that a self-update (or a
// receipt's rewrite) in dir left when it was stopped half-way, once they are
// older than leftoverAge.
func removeLeftovers(dir string, now time.Time) {
	var old []string
	for _, pattern := range []string{tempPrefix + "*", "." + receiptName + ".tmp*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		old = append(old, m...)
	}
	for _, f := range old {
		if fi, err := os.Lstat(f); err == nil && now.Sub(fi.ModTime()) > leftoverAge {
			_ = os.Remove(f)
		}
	}
}

// unpack copies the file named want out of the gzipped tar r into w. The
// tarball must hold want once, as a regular file, and be whole: it is read
// to its end, which checks the gzip trailer (CRC and length).
func unpack(r io.Reader, want string, w io.Writer) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	found := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if path.Clean(hdr.Name) != want {
			continue
		}
		switch {
		case found:
			return fmt.Errorf("the tarball holds %s twice", want)
		case hdr.Typeflag != tar.TypeReg:
			return fmt.Errorf("%s in the tarball is no regular file", want)
		case hdr.Size > maxDownload:
			return fmt.Errorf("%s in the tarball is %d bytes, too big", want, hdr.Size)
		}
		if _, err := io.Copy(w, tr); err != nil {
			return err
		}
		found = true
	}
	// Past the tar's end: gzip checks its trailer at EOF.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no %s in the tarball", want)
	}
	return nil
}

// checkVersion runs bin --version, without an override, and wants the last
// token of its first line to be version.
func checkVersion(ctx context.Context, bin, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	var environ []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(name, overrideEnv) && !strings.EqualFold(name, followedEnv) {
			environ = append(environ, kv)
		}
	}
	cmd.Env = environ
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("does not run here (%s --version: %v)", filepath.Base(bin), err)
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 || fields[len(fields)-1] != version {
		return fmt.Errorf("says %q, not %s", line, version)
	}
	return nil
}
