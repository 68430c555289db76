package build_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/exeinfo"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/testenv"
)

const (
	testVersion = "1.2.3-test.1"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// testHost is this machine; under CI on Linux it must have qemu-user, so that
// every check runs.
func testHost(t *testing.T) build.Host {
	h := build.DetectHost()
	if runtime.GOOS == "linux" && testenv.InCI() {
		for _, goarch := range []string{"arm64", "amd64", "riscv64"} {
			h.Qemu[goarch] = testenv.LookPath(t, build.QemuName(goarch), "apt-get install qemu-user")
		}
	}
	return h
}

// repoPin is the pin of this repository's module: the toolchain and default
// GODEBUG of its sealed build. Builds of the fixtures, which are modules of
// their own without a toolchain line, are held to it.
func repoPin(t *testing.T) *build.Pin {
	t.Helper()
	tg, err := platforms.ForHost(build.DetectHost().Host)
	require.NoError(t, err)
	pin, err := build.ReadPin(t.Context(), "go", testenv.RepoRoot(t), build.DefaultMain, os.Environ(), tg)
	require.NoError(t, err)
	return &pin
}

func targets(t *testing.T, names ...string) []platforms.Target {
	t.Helper()
	ts, err := platforms.Select(names...)
	require.NoError(t, err)
	return ts
}

func sha(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestBuildAllTargets builds the 12 targets of the real facet command once and
// then checks, in subtests, everything that build proves.
func TestBuildAllTargets(t *testing.T) {
	root := testenv.RepoRoot(t)
	host := testHost(t)
	layout := dist.Layout{Root: t.TempDir()}
	var out bytes.Buffer
	cfg := build.Config{
		Root: root, Dist: layout, Targets: platforms.All(),
		Version: testVersion, Commit: testCommit,
		// A user's override of the command does not reach the checks: they
		// run the binaries built.
		Env:  append(os.Environ(), platforms.OverrideVar+"=/nonexistent/facet"),
		Host: host, Progress: progress.NewPlain(&out),
	}
	records, err := build.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	require.Len(t, records, 12)

	t.Run("records", func(t *testing.T) {
		for i, tg := range platforms.All() {
			r := records[i]
			assert.Equal(t, tg.Name(), r.Target)
			assert.Equal(t, tg.Package(), r.Package)
			assert.Equal(t, testVersion, r.Version)
			assert.Equal(t, testCommit, r.Commit)
			assert.Equal(t, "npm/"+tg.Package()+"/"+tg.BinPath(), r.Binary)
			assert.Equal(t, sha(t, layout.Binary(tg)), r.SHA256)
			assert.Equal(t, runtime.Version(), r.Go)
			onDisk, err := layout.ReadBuildRecord(tg)
			require.NoError(t, err)
			assert.Equal(t, r, onDisk)
			info, err := os.Stat(layout.Binary(tg))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o755), info.Mode().Perm(), tg.Name())
		}
	})

	t.Run("checks", func(t *testing.T) {
		for _, r := range records {
			assert.Equal(t, "header", r.Checks[0], r.Target)
		}
		if host.GOOS != "linux" || host.GOARCH != "amd64" || host.AMD64Level < 3 || host.Qemu["arm64"] == "" || host.Qemu["amd64"] == "" {
			t.Skip("the full set of checks needs an x64 Linux host with AVX2 and qemu-user")
		}
		want := map[string][]string{
			"linux-x64":               {"header", "run", "qemu-nehalem-refuses"},
			"linux-x64-musl":          {"header", "run", "qemu-nehalem-refuses"},
			"linux-x64-baseline":      {"header", "run", "qemu-nehalem-starts"},
			"linux-x64-baseline-musl": {"header", "run", "qemu-nehalem-starts"},
			"linux-arm64":             {"header", "qemu-aarch64"},
			"linux-arm64-musl":        {"header", "qemu-aarch64"},
		}
		for _, r := range records {
			w, ok := want[r.Target]
			if !ok {
				w = []string{"header"}
			}
			assert.Equal(t, w, r.Checks, r.Target)
		}
	})

	t.Run("twins are byte-identical", func(t *testing.T) {
		for _, pair := range [][2]string{
			{"linux-x64", "linux-x64-musl"},
			{"linux-x64-baseline", "linux-x64-baseline-musl"},
			{"linux-arm64", "linux-arm64-musl"},
		} {
			ts := targets(t, pair[0], pair[1])
			assert.Equal(t, sha(t, layout.Binary(ts[0])), sha(t, layout.Binary(ts[1])), pair)
		}
	})

	t.Run("plain progress", func(t *testing.T) {
		text := out.String()
		assert.NotContains(t, text, "\x1b", "no escape codes")
		lines := strings.Split(strings.TrimSpace(text), "\n")
		assert.Regexp(t, `^facet 1\.2\.3-test\.1: building 12 targets \(9 compilations, \d+ at a time\)$`, lines[0])
		assert.Equal(t, "12/12 finished, 12 built", lines[len(lines)-1])
		for _, name := range platforms.Names() {
			for _, state := range []string{"compiling", "verifying", "done: "} {
				assert.Regexp(t, `(?m)^`+name+` +`+state, text, "%s %s", name, state)
			}
		}
		assert.Regexp(t, `(?m)^linux-x64-musl +compiling: same binary as linux-x64$`, text)
	})

	t.Run("the host binary describes itself", func(t *testing.T) {
		tg, err := platforms.ForHost(host.Host)
		require.NoError(t, err)
		bin := layout.Binary(tg)
		got, err := exec.Command(bin, "--version").Output()
		require.NoError(t, err)
		assert.Equal(t, "facet "+testVersion+"\n", string(got))

		got, err = exec.Command(bin, "version", "--json").Output()
		require.NoError(t, err)
		var about map[string]string
		require.NoError(t, json.Unmarshal(got, &about))
		levelVar, level := tg.ArchLevel()
		assert.Equal(t, map[string]string{
			"version": testVersion, "commit": testCommit, "go": runtime.Version(),
			"goos": tg.GOOS(), "goarch": tg.GOARCH(), strings.ToLower(levelVar): level, "path": bin,
		}, about)
	})

	t.Run("verification catches a binary of the wrong target", func(t *testing.T) {
		pin := repoPin(t)
		read := func(name string) *exeinfo.Info {
			info, err := exeinfo.Read(layout.Binary(targets(t, name)[0]))
			require.NoError(t, err)
			return info
		}
		tests := []struct {
			binary, target string
			version        string
			want           string
		}{
			{"darwin-arm64", "linux-arm64", testVersion, "Mach-O header is for darwin/arm64, want linux/arm64"},
			{"windows-x64", "windows-arm64", testVersion, "PE header is for windows/amd64, want windows/arm64"},
			{"linux-arm64", "linux-x64", testVersion, "ELF header is for linux/arm64, want linux/amd64"},
			{"linux-x64-baseline", "linux-x64", testVersion, "build setting GOAMD64=v1, want v3"},
			{"darwin-x64", "darwin-x64-baseline", testVersion, "build setting GOAMD64=v3, want v1"},
			{"linux-x64", "linux-x64", "1.2.4", "stamped version 1.2.3-test.1 (commit " + testCommit + "), want 1.2.4"},
		}
		for _, tt := range tests {
			err := build.CheckBinary(read(tt.binary), build.Want{Target: targets(t, tt.target)[0], Version: tt.version, Commit: testCommit, Pin: *pin})
			require.Error(t, err, "%s as %s", tt.binary, tt.target)
			assert.Contains(t, err.Error(), "binary does not match target "+tt.target)
			assert.Contains(t, err.Error(), tt.want)
		}
		for _, name := range platforms.Names() {
			assert.NoError(t, build.CheckBinary(read(name), build.Want{Target: targets(t, name)[0], Version: testVersion, Commit: testCommit, Pin: *pin}))
		}
	})

	t.Run("a second build with nothing changed does no work", func(t *testing.T) {
		var again bytes.Buffer
		cfg := cfg
		cfg.Progress = progress.NewPlain(&again)
		second, err := build.Run(t.Context(), cfg)
		require.NoError(t, err, again.String())
		assert.Equal(t, records, second)
		assert.Contains(t, again.String(), "12/12 finished, 12 up to date")
		assert.NotContains(t, again.String(), "verifying")
	})

	t.Run("a tampered binary is restored", func(t *testing.T) {
		ts := targets(t, "linux-x64,linux-x64-musl")
		for _, tg := range ts {
			require.NoError(t, os.WriteFile(layout.Binary(tg), []byte("tampered"), 0o755))
		}
		_, err := build.Run(t.Context(), cfg)
		require.NoError(t, err)
		for _, tg := range ts {
			assert.Equal(t, records[5].SHA256, sha(t, layout.Binary(tg)), tg.Name())
		}
	})

	t.Run("a new version relinks and verifies every binary", func(t *testing.T) {
		var again bytes.Buffer
		cfg := cfg
		cfg.Version = "1.2.3-test.2"
		cfg.Progress = progress.NewPlain(&again)
		second, err := build.Run(t.Context(), cfg)
		require.NoError(t, err, again.String())
		assert.Contains(t, again.String(), "12/12 finished, 12 built")
		for i, r := range second {
			assert.Equal(t, "1.2.3-test.2", r.Version)
			assert.NotEqual(t, records[i].SHA256, r.SHA256, r.Target)
			assert.Regexp(t, `(?m)^`+r.Target+` +verifying$`, again.String())
		}
	})
}

// The same commit built twice, from different checkout paths and with
// different (one of them empty) build caches, gives byte-identical binaries;
// and nothing outside the repository changes them: not a go.work with a
// godebug line in a parent directory, a go env file's GOFLAGS and GOFIPS140,
// nor GOEXPERIMENT, GOFIPS140, GOFLAGS, a CPU-level variable, GOROOT or
// GOTOOLCHAIN=local in the environment.
func TestReproducible(t *testing.T) {
	tmp := t.TempDir()
	ts := targets(t, "darwin-arm64,linux-x64,windows-x64")
	var digests [2][]string
	for i, src := range []string{filepath.Join(tmp, "a"), filepath.Join(tmp, "checkout", "elsewhere", "b")} {
		testenv.CopyModule(t, src)
		env := os.Environ()
		if i == 1 {
			env = append(env, "GOCACHE="+filepath.Join(tmp, "empty-cache"), "GOEXPERIMENT=nogreenteagc",
				"GOFIPS140=latest", "GOFLAGS=-tags=facetdebug", "GOAMD64=v2", "GOTOOLCHAIN=local")
			work := "go 1.26.0\n\ngodebug panicnil=1\n\nuse ./b\n"
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(src), "go.work"), []byte(work), 0o644))
			goenv := filepath.Join(tmp, "go.env")
			require.NoError(t, os.WriteFile(goenv, []byte("GOFLAGS=-tags=facetdebug -ldflags=-X=main.stamp=facetstamp/6.6.6/0/\nGOFIPS140=latest\n"), 0o644))
			env = append(env, "GOENV="+goenv, "GOROOT="+filepath.Join(tmp, "no-such-goroot"))
		}
		layout := dist.Layout{Root: filepath.Join(src, "dist")}
		records, err := build.Run(t.Context(), build.Config{
			Root: src, Dist: layout, Targets: ts, Version: testVersion, Commit: testCommit, Env: env,
		})
		require.NoError(t, err)
		for _, r := range records {
			digests[i] = append(digests[i], r.SHA256)
		}
	}
	assert.Equal(t, digests[0], digests[1])
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return dir
}

func TestCompileFailureNamesTargetAndOutput(t *testing.T) {
	layout := dist.Layout{Root: t.TempDir()}
	var out bytes.Buffer
	_, err := build.Run(t.Context(), build.Config{
		Root: fixture(t, "broken"), Main: ".", Dist: layout, Pin: repoPin(t),
		Targets: targets(t, "linux-x64,windows-x64"), Jobs: 1,
		Version: testVersion, Commit: testCommit, Env: os.Environ(), Progress: progress.NewPlain(&out),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "windows-x64: go build: exit status 1")
	assert.Contains(t, err.Error(), "undefined: undefinedOnWindows", "the compiler's output")
	assert.NotContains(t, err.Error(), "linux-x64:")
	assert.Regexp(t, `(?m)^windows-x64 +failed`, out.String())
	assert.Regexp(t, `(?m)^linux-x64 +done`, out.String())

	_, err = layout.ReadBuildRecord(targets(t, "windows-x64")[0])
	assert.ErrorIs(t, err, os.ErrNotExist, "a failed target has no record")
	_, err = layout.ReadBuildRecord(targets(t, "linux-x64")[0])
	assert.NoError(t, err)
}

func TestFirstFailureCancelsTheRest(t *testing.T) {
	var out bytes.Buffer
	_, err := build.Run(t.Context(), build.Config{
		Root: fixture(t, "broken"), Main: ".", Dist: dist.Layout{Root: t.TempDir()}, Pin: repoPin(t),
		Targets: targets(t, "windows-arm64,windows-x64,windows-x64-baseline"), Jobs: 1,
		Version: testVersion, Commit: testCommit, Env: os.Environ(), Progress: progress.NewPlain(&out),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "windows-arm64: go build")
	assert.NotContains(t, err.Error(), "windows-x64:", "canceled targets are not failures")
	assert.Regexp(t, `(?m)^windows-x64 +canceled`, out.String())
	assert.Regexp(t, `(?m)^windows-x64-baseline +canceled`, out.String())
	assert.Contains(t, out.String(), "3/3 finished, 1 failed, 2 canceled")
}

func TestRunCheckCatchesWrongVersion(t *testing.T) {
	host := testHost(t)
	tg, err := platforms.ForHost(host.Host)
	require.NoError(t, err)
	_, err = build.Run(t.Context(), build.Config{
		Root: fixture(t, "liar"), Main: ".", Dist: dist.Layout{Root: t.TempDir()}, Pin: repoPin(t),
		Targets: []platforms.Target{tg}, Version: testVersion, Commit: testCommit,
		Env: os.Environ(), Host: host,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), tg.Name()+": run check:")
	assert.Contains(t, err.Error(), `printed "facet 0.0.1", want version `+testVersion)
}

// fakeGo writes a stand-in for the go command: it holds the FIFO at
// FACET_TEST_FIFO open for writing, as does the "compiler" it starts, and
// reports "started" on it. For GOOS=windows it first waits for a line on
// FACET_TEST_GO_AHEAD, then fails like a compile error.
func fakeGo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "go")
	script := `#!/bin/sh
if [ "$GOOS" = windows ]; then
	read line < "$FACET_TEST_GO_AHEAD"
	echo "./main.go:1: boom" >&2
	exit 1
fi
exec 3>"$FACET_TEST_FIFO"
sleep 600 &
echo started >&3
wait
`
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

// mkfifo makes a named pipe.
func mkfifo(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("mkfifo", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return path
}

// heldFIFO is the reading end of the FIFO that the fake go and its
// "compiler" hold open.
type heldFIFO struct {
	f *os.File
	r *bufio.Reader
}

// awaitCompiler opens the FIFO, which returns once the fake go holds its other
// end, and waits for the fake to say that its compiler runs.
func awaitCompiler(t *testing.T, fifo string) heldFIFO {
	t.Helper()
	f, err := os.Open(fifo)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	h := heldFIFO{f: f, r: bufio.NewReader(f)}
	line, err := h.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "started\n", line)
	return h
}

// awaitExit reads the FIFO to its end: the end comes only once every process
// holding it open for writing has exited. A compiler left running keeps it
// open, and the read fails at the test's deadline.
func (h heldFIFO) awaitExit(t *testing.T) {
	t.Helper()
	if deadline, ok := t.Deadline(); ok {
		require.NoError(t, h.f.SetReadDeadline(deadline.Add(-5*time.Second)))
	}
	rest, err := h.r.ReadString(0)
	require.ErrorContains(t, err, "EOF", "the compiler is still running (read %q)", rest)
}

func TestCancelKillsCompilers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake compiler holds a FIFO, a Unix notion (Windows kills the tree with a job object: scripts/procgroup)")
	}
	fifo := mkfifo(t, "held")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := build.Run(ctx, build.Config{
			Root: t.TempDir(), Go: fakeGo(t), Dist: dist.Layout{Root: t.TempDir()}, Pin: &build.Pin{Toolchain: runtime.Version()},
			Targets: targets(t, "linux-x64"), Version: testVersion, Commit: testCommit,
			Env: append(os.Environ(), "FACET_TEST_FIFO="+fifo),
		})
		done <- err
	}()
	compiler := awaitCompiler(t, fifo)

	cancel() // as Ctrl-C does through Mage
	err := <-done
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "build canceled")
	compiler.awaitExit(t)
}

func TestFailureKillsRunningCompilers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake compiler holds a FIFO, a Unix notion (Windows kills the tree with a job object: scripts/procgroup)")
	}
	fifo, goAhead := mkfifo(t, "held"), mkfifo(t, "go-ahead")
	done := make(chan error, 1)
	go func() {
		_, err := build.Run(t.Context(), build.Config{
			Root: t.TempDir(), Go: fakeGo(t), Dist: dist.Layout{Root: t.TempDir()}, Pin: &build.Pin{Toolchain: runtime.Version()},
			Targets: targets(t, "linux-x64,windows-x64"), Jobs: 2, Version: testVersion, Commit: testCommit,
			Env: append(os.Environ(), "FACET_TEST_FIFO="+fifo, "FACET_TEST_GO_AHEAD="+goAhead),
		})
		done <- err
	}()
	compiler := awaitCompiler(t, fifo)

	// Let the Windows build fail while the Linux one is compiling.
	require.NoError(t, os.WriteFile(goAhead, []byte("go\n"), 0o644))
	err := <-done
	require.Error(t, err)
	assert.Contains(t, err.Error(), "windows-x64: go build: exit status 1")
	assert.Contains(t, err.Error(), "./main.go:1: boom")
	assert.NotContains(t, err.Error(), "linux-x64:", "the canceled build is not a failure")
	compiler.awaitExit(t)
}

func TestBench(t *testing.T) {
	host := testHost(t)
	tg, err := platforms.ForHost(host.Host)
	require.NoError(t, err)
	var out bytes.Buffer
	res, err := build.Bench(t.Context(), build.Config{
		Root: testenv.RepoRoot(t), Targets: []platforms.Target{tg}, Jobs: 1,
		Version: testVersion, Commit: testCommit, Env: os.Environ(), Host: host,
	}, &out)
	require.NoError(t, err, out.String())
	require.Len(t, res.Scenarios, 3)
	for _, s := range res.Scenarios {
		assert.Positive(t, s.Parallel.Wall, s.Name)
		assert.Positive(t, s.Sequential.Wall, s.Name)
		assert.Regexp(t, `(?m)^`+s.Name+` +parallel ÷ sequential: wall \d+\.\d\d×, CPU \d+\.\d\d×$`, out.String())
	}
	if runtime.GOOS != "windows" {
		assert.Positive(t, res.Scenarios[0].Parallel.CPU, "CPU time of the children")
	}
}

// BenchMatrix builds each compilation alone from an empty cache, compiles the
// tool with an empty cache of its own, and compares the slowest job with the
// single-machine build.
func TestBenchMatrix(t *testing.T) {
	host := testHost(t)
	tg, err := platforms.ForHost(host.Host)
	require.NoError(t, err)
	var toolCache []string
	tool := func(ctx context.Context, env []string) error {
		for _, kv := range env {
			if dir, ok := strings.CutPrefix(kv, "GOCACHE="); ok {
				toolCache = append(toolCache, dir)
				entries, _ := os.ReadDir(dir)
				assert.Empty(t, entries, "the tool compiles from an empty cache")
			}
		}
		return nil
	}
	var out bytes.Buffer
	single := build.Measurement{Wall: time.Minute, CPU: 2 * time.Minute}
	inherited := t.TempDir()
	res, err := build.BenchMatrix(t.Context(), build.Config{
		Root: testenv.RepoRoot(t), Targets: []platforms.Target{tg},
		Version: testVersion, Commit: testCommit, Env: append(os.Environ(), "GOCACHE="+inherited), Host: host,
	}, tool, single, &out)
	require.NoError(t, err, out.String())
	entries, err := os.ReadDir(inherited)
	require.NoError(t, err)
	assert.Empty(t, entries, "the jobs build with caches of their own, not the one they are given")
	require.Len(t, res.Jobs, 1)
	assert.Equal(t, []string{tg.Name()}, res.Jobs[0].Targets)
	assert.Positive(t, res.Jobs[0].Wall)
	require.Len(t, toolCache, 1, "GOCACHE is set once")
	assert.NotEqual(t, inherited, toolCache[0])
	assert.Equal(t, single, res.Single)
	assert.Regexp(t, `(?m)^scale-out  slowest matrix job ÷ single-machine build: .* = \d+\.\d\d× \(goal ≤ 0\.20×\)$`, out.String())
}

func TestMatrixBenchPrint(t *testing.T) {
	m := build.MatrixBench{
		Jobs: []build.MatrixJob{
			{Targets: []string{"darwin-arm64"}, Measurement: build.Measurement{Wall: 10 * time.Second}},
			{Targets: []string{"linux-x64", "linux-x64-musl"}, Measurement: build.Measurement{Wall: 12 * time.Second}},
			{Targets: []string{"windows-x64"}, Measurement: build.Measurement{Wall: 11 * time.Second}},
		},
		Tool:   build.Measurement{Wall: 20 * time.Second},
		Single: build.Measurement{Wall: 60 * time.Second},
	}
	assert.Equal(t, []string{"linux-x64", "linux-x64-musl"}, m.Slowest().Targets)
	var out bytes.Buffer
	m.Print(&out)
	assert.Contains(t, out.String(), "linux-x64 linux-x64-musl")
	assert.Contains(t, out.String(), "scale-out  slowest matrix job ÷ single-machine build: 12.0 s ÷ 60.0 s = 0.20× (goal ≤ 0.20×)\n")
	assert.Contains(t, out.String(), "pipeline   (tool + slowest job) ÷ (tool + single-machine build): 32.0 s ÷ 80.0 s = 0.40×\n")
}

// Each rule of CheckBinary is held to by a build information that breaks it
// alone; the unbroken one passes.
func TestCheckBinaryRules(t *testing.T) {
	linux := targets(t, "linux-x64")[0]
	pin := build.Pin{Toolchain: "go1.26.8"}
	good := func() *exeinfo.Info {
		return &exeinfo.Info{
			Format: "ELF", GOOS: "linux", GOARCH: "amd64", GoVersion: "go1.26.8",
			Settings: map[string]string{
				"-buildmode": "exe", "-compiler": "gc", "-trimpath": "true", "CGO_ENABLED": "0",
				"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v3",
			},
			Stamps: []exeinfo.StampValue{{Version: testVersion, Commit: testCommit}},
		}
	}
	want := build.Want{Target: linux, Version: testVersion, Commit: testCommit, Pin: pin}
	require.NoError(t, build.CheckBinary(good(), want))

	tests := []struct {
		name   string
		break_ func(*exeinfo.Info, *build.Want)
		want   string
	}{
		{"cgo", func(i *exeinfo.Info, _ *build.Want) { i.Settings["CGO_ENABLED"] = "1" }, "build setting CGO_ENABLED=1, want 0"},
		{"no -trimpath", func(i *exeinfo.Info, _ *build.Want) { delete(i.Settings, "-trimpath") }, "build setting -trimpath=(unset), want true"},
		{"interpreter", func(i *exeinfo.Info, _ *build.Want) { i.Interp = "/lib64/ld-linux-x86-64.so.2" }, `dynamically linked (interpreter "/lib64/ld-linux-x86-64.so.2"`},
		{"libraries", func(i *exeinfo.Info, _ *build.Want) { i.Libraries = []string{"libc.so.6"} }, "dynamically linked (interpreter \"\", libraries [libc.so.6]), want static"},
		{"GOEXPERIMENT", func(i *exeinfo.Info, _ *build.Want) { i.Settings["GOEXPERIMENT"] = "nogreenteagc" }, "build setting GOEXPERIMENT=nogreenteagc, want none"},
		{"GOFIPS140", func(i *exeinfo.Info, _ *build.Want) { i.Settings["GOFIPS140"] = "latest" }, "build setting GOFIPS140=latest, want none"},
		{"tags", func(i *exeinfo.Info, _ *build.Want) { i.Settings["-tags"] = "debug" }, "build setting -tags=debug, want none"},
		{"DefaultGODEBUG from a go.work", func(i *exeinfo.Info, _ *build.Want) { i.Settings["DefaultGODEBUG"] = "panicnil=1" }, "build setting DefaultGODEBUG=panicnil=1, want none"},
		{"DefaultGODEBUG missing", func(_ *exeinfo.Info, w *build.Want) { w.DefaultGODEBUG = "panicnil=1" }, "build setting DefaultGODEBUG=(unset), want panicnil=1"},
		{"toolchain", func(i *exeinfo.Info, _ *build.Want) { i.GoVersion = "go1.26.7" }, "built by go1.26.7, want go1.26.8 (go.mod's toolchain)"},
		{"CPU level", func(i *exeinfo.Info, _ *build.Want) { i.Settings["GOAMD64"] = "v1" }, "build setting GOAMD64=v1, want v3"},
		{"GOOS setting", func(i *exeinfo.Info, _ *build.Want) { i.Settings["GOOS"] = "android" }, "build setting GOOS=android, want linux"},
		{"header", func(i *exeinfo.Info, _ *build.Want) { i.GOARCH = "arm64" }, "ELF header is for linux/arm64, want linux/amd64"},
		{"buildmode", func(i *exeinfo.Info, _ *build.Want) { i.Settings["-buildmode"] = "pie" }, "build setting -buildmode=pie, want exe"},
		{"no stamp", func(i *exeinfo.Info, _ *build.Want) { i.Stamps = nil }, "no version stamp, want version " + testVersion},
		{"two stamps", func(i *exeinfo.Info, _ *build.Want) { i.Stamps = append(i.Stamps, i.Stamps[0]) }, "2 version stamps"},
		{"commit", func(i *exeinfo.Info, _ *build.Want) { i.Stamps[0].Commit = "abc" }, "stamped version " + testVersion + " (commit abc)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, w := good(), want
			tt.break_(info, &w)
			err := build.CheckBinary(info, w)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "binary does not match target linux-x64: ")
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	// Go asks for the system's loader on OpenBSD, Solaris and Android: a
	// dynamic binary there is right.
	openbsd := platforms.Target{OS: "openbsd", CPU: "x64"}
	info := good()
	info.GOOS, info.Settings["GOOS"], info.Interp = "openbsd", "openbsd", "/usr/libexec/ld.so"
	assert.NoError(t, build.CheckBinary(info, build.Want{Target: openbsd, Version: testVersion, Commit: testCommit, Pin: pin}))
}

// The incremental build trusts a build record only for the same bytes: a
// change to the source at the same version makes a new binary, which is
// verified again.
func TestChangedSourceIsVerifiedAgain(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	testenv.CopyModule(t, src)
	host := testHost(t)
	tg, err := platforms.ForHost(host.Host)
	require.NoError(t, err)
	cfg := build.Config{
		Root: src, Dist: dist.Layout{Root: filepath.Join(src, "dist")}, Targets: []platforms.Target{tg},
		Version: testVersion, Commit: testCommit, Env: os.Environ(), Host: host,
	}
	first, err := build.Run(t.Context(), cfg)
	require.NoError(t, err)

	main := filepath.Join(src, "cmd", "facet", "main.go")
	code, err := os.ReadFile(main)
	require.NoError(t, err)
	changed := strings.Replace(string(code), "facet: the agent-facets CLI", "facet: the agent-facets CLI, changed", 1)
	require.NotEqual(t, string(code), changed, "the usage line to change")
	require.NoError(t, os.WriteFile(main, []byte(changed), 0o644))

	var out bytes.Buffer
	cfg.Progress = progress.NewPlain(&out)
	second, err := build.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.NotEqual(t, first[0].SHA256, second[0].SHA256, "a new binary")
	assert.Regexp(t, `(?m)^`+tg.Name()+` +verifying$`, out.String())
	assert.Contains(t, out.String(), "1/1 finished, 1 built")
}

// A go env file (go env -w) cannot be overridden by an empty variable, so a
// GOEXPERIMENT there is refused before anything is built. (Its GOFLAGS is
// overridden: see TestReproducible.)
func TestGoExperimentInGoEnvFileIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "go.env")
	require.NoError(t, os.WriteFile(file, []byte("GOEXPERIMENT=nogreenteagc\n"), 0o644))
	layout := dist.Layout{Root: t.TempDir()}
	_, err := build.Run(t.Context(), build.Config{
		Root: testenv.RepoRoot(t), Dist: layout, Targets: targets(t, "linux-x64"),
		Version: testVersion, Commit: testCommit, Env: append(os.Environ(), "GOENV="+file),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GOEXPERIMENT=nogreenteagc is set in the go env file (go env -w), and would change the binaries: remove it with go env -u GOEXPERIMENT")
	entries, err := os.ReadDir(layout.Root)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written")
}

// A row the table cannot hold fails the build before anything is written.
func TestBadRowIsRefused(t *testing.T) {
	layout := dist.Layout{Root: t.TempDir()}
	_, err := build.Run(t.Context(), build.Config{
		Root: testenv.RepoRoot(t), Dist: layout, Version: testVersion, Commit: testCommit,
		Targets: []platforms.Target{{OS: "linux", CPU: "x64", Libc: platforms.Glibc}, {OS: "linux", CPU: "x64"}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "build: target linux-x64: a Linux target names its libc, glibc or musl")
	entries, err := os.ReadDir(layout.Root)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written")
}

// The build runs the toolchain go.mod pins, whatever go is on PATH: with a
// pin this Go is not, the go command sets out to fetch that toolchain (here
// refused: GOPROXY=off) instead of building with itself.
func TestBuildRunsThePinnedToolchain(t *testing.T) {
	layout := dist.Layout{Root: t.TempDir()}
	_, err := build.Run(t.Context(), build.Config{
		Root: testenv.RepoRoot(t), Dist: layout, Targets: targets(t, "linux-x64"),
		Version: testVersion, Commit: testCommit, Env: append(os.Environ(), "GOPROXY=off"),
		Pin: &build.Pin{Toolchain: "go1.99.0"},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "linux-x64: go build")
	assert.Contains(t, err.Error(), "go1.99.0")
	assert.NotContains(t, err.Error(), "built by", "not built by the Go on PATH")
}
