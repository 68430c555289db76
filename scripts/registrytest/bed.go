package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
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
// key the bed's OIDC exchange trusts, and CIRCLECI=true. The job is one of
// the main branch's pipeline unless its environment names a tag (CIRCLE_TAG,
// as a release job's does): see JobClaims. The stand-in is built on first
// use.
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
		config, err := WriteStandInConfig(dir, signer, JobClaims(p, "refs/heads/main"))
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

// Seed publishes a minimal package of each name at version straight to the
// registry behind (as its user, the way npm publish does, without starting
// npm: these are fixtures, not what is tested), and makes p their trusted
// publisher when p is not zero: the state after go tool mage seed and trust.
func (b *Bed) Seed(ctx context.Context, version string, p circleci.Publisher, names ...string) error {
	tag := "latest"
	if strings.Contains(version, "-") {
		tag = "next"
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Go(func() { errs[i] = b.publishDirect(ctx, name, version, tag) })
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

// publishDirect PUTs a package document with a one-file tarball, as npm's
// publish does, to the registry behind.
func (b *Bed) publishDirect(ctx context.Context, name, version, tag string) error {
	body, err := minimalPublish(name, version, tag, "test package", b.Verdaccio.URL)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.Verdaccio.URL+escapeName(name), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.Verdaccio.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publishing %s@%s: %s: %s", name, version, resp.Status, msg)
	}
	return nil
}

// minimalPublish is the body of npm's publish of a minimal package: a
// package.json with name, version and description, the only file of its
// tarball, under tag. registry is the registry's URL, which the tarball's
// address starts with.
func minimalPublish(name, version, tag, description, registry string) ([]byte, error) {
	manifest := map[string]any{"name": name, "version": version, "description": description}
	pj, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "package/package.json", Mode: 0o644, Size: int64(len(pj)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(pj); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := tgz.Bytes()
	shasum, integrity := sums(data)
	base := name[strings.LastIndex(name, "/")+1:]
	file := base + "-" + version + ".tgz"
	v := maps.Clone(manifest)
	v["_id"] = name + "@" + version
	v["dist"] = map[string]string{"integrity": integrity, "shasum": shasum, "tarball": registry + name + "/-/" + file}
	doc := map[string]any{
		"_id": name, "name": name, "description": manifest["description"], "access": "public",
		"dist-tags":    map[string]string{tag: version},
		"versions":     map[string]any{version: v},
		"_attachments": map[string]any{file: map[string]any{"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(data), "length": len(data)}},
	}
	return json.Marshal(doc)
}

// sums are a tarball's shasum (sha1, hex) and integrity (sha512-<base64>),
// as npm writes them in dist.
func sums(tgz []byte) (shasum, integrity string) {
	sha1sum := sha1.Sum(tgz)
	sha512sum := sha512.Sum512(tgz)
	return hex.EncodeToString(sha1sum[:]), "sha512-" + base64.StdEncoding.EncodeToString(sha512sum[:])
}
