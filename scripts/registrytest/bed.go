package registrytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

// BedOptions configure a Bed.
type BedOptions struct {
	Root string   // the repository: Verdaccio's pin, the circleci stand-in's source
	Dir  string   // an empty directory for the bed's state; the caller removes it
	NPM  npm.CLI  // installs Verdaccio
	Env  []string // base environment of the bed's processes; nil means this process's
}

// Bed is a whole test bed: Verdaccio behind npmjs.com's stand-in. Tests get
// one with testenv.RegistryBed; the benchmarks and the rehearsal start one
// with StartBed.
type Bed struct {
	Verdaccio *verdaccio.Server
	Front     *Server
	URL       string // the registry npm is configured with: the stand-in's

	opts BedOptions
	once sync.Once
	job  []string
	err  error
}

// StartBed starts Verdaccio in opts.Dir and the stand-in in front of it.
// Close stops both.
func StartBed(ctx context.Context, opts BedOptions) (*Bed, error) {
	dir := filepath.Join(opts.Dir, "verdaccio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	v, err := verdaccio.Start(ctx, verdaccio.Options{Root: opts.Root, Dir: dir, NPM: opts.NPM, Env: opts.Env})
	if err != nil {
		return nil, err
	}
	front, err := Start(Options{Upstream: v.URL, UpstreamToken: v.Token})
	if err != nil {
		_ = v.Stop()
		return nil, err
	}
	return &Bed{Verdaccio: v, Front: front, URL: front.URL, opts: opts}, nil
}

// Close stops the bed.
func (b *Bed) Close() error {
	return errors.Join(b.Front.Close(), b.Verdaccio.Stop())
}

// NPMEnv is the environment of an npm configured with the bed's registry
// and nothing else: logged in as its user (a maintainer after npm login) when
// login is true.
func (b *Bed) NPMEnv(login bool) ([]string, error) {
	token := ""
	if login {
		token = b.Verdaccio.Token
	}
	return b.Verdaccio.NPMEnv(b.URL, token)
}

// CircleCIJob is the environment of a job of p's pipeline: the circleci
// stand-in first on PATH, minting ID tokens with the job's claims signed by a
// key the bed's OIDC exchange trusts, and CIRCLECI=true. The stand-in is
// built on first use.
func (b *Bed) CircleCIJob(ctx context.Context, p circleci.Publisher) ([]string, error) {
	b.once.Do(func() {
		signer, err := NewSigner(p.Issuer())
		if err != nil {
			b.err = err
			return
		}
		dir := filepath.Join(b.opts.Dir, "circleci")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.err = err
			return
		}
		if _, err := BuildStandIn(ctx, b.opts.Root, dir); err != nil {
			b.err = err
			return
		}
		config, err := WriteStandInConfig(dir, signer, JobClaims(p))
		if err != nil {
			b.err = err
			return
		}
		b.Front.TrustIssuer(signer)
		path := os.Getenv("PATH")
		for _, kv := range b.opts.Env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		b.job = []string{"PATH=" + dir + string(os.PathListSeparator) + path, StandInEnv + "=" + config, "CIRCLECI=true"}
	})
	return b.job, b.err
}

// Seed publishes a minimal package of each name at version, all at once, as
// the bed's user with the real npm CLI, and makes p their trusted publisher
// when p is not zero: the state after go tool mage seed and trust.
func (b *Bed) Seed(ctx context.Context, version string, p circleci.Publisher, names ...string) error {
	env, err := b.NPMEnv(true)
	if err != nil {
		return err
	}
	cli := b.opts.NPM
	cli.Env = env
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		dir, err := os.MkdirTemp(b.opts.Dir, "seed-")
		if err != nil {
			return err
		}
		manifest := fmt.Sprintf(`{"name":%q,"version":%q,"description":"test package"}`, name, version)
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(manifest), 0o644); err != nil {
			return err
		}
		wg.Go(func() {
			defer os.RemoveAll(dir)
			tag := "latest"
			if strings.Contains(version, "-") {
				tag = "next"
			}
			_, errs[i] = cli.Run(ctx, dir, "publish", "--access", "public", "--tag", tag)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("publishing test packages: %w\n%s", err, b.Verdaccio.Logs())
	}
	if p.OrgID != "" {
		for _, name := range names {
			b.Front.SetTrust(name, TrustFor(p))
		}
	}
	return nil
}
