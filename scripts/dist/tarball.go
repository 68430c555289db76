package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// TarEntry is one regular file of an npm tarball.
type TarEntry struct {
	Mode   int64
	SHA256 string // hex
}

// ReadTarball lists the regular files of an npm tarball by their path inside
// the package (without the leading "package/"). Anything but regular files and
// directories is an error.
func ReadTarball(data []byte) (map[string]TarEntry, error) {
	entries := map[string]TarEntry{}
	err := walkTarball(data, func(name string, h *tar.Header, r io.Reader) error {
		hash := sha256.New()
		if _, err := io.Copy(hash, r); err != nil {
			return err
		}
		entries[name] = TarEntry{Mode: h.Mode, SHA256: hex.EncodeToString(hash.Sum(nil))}
		return nil
	})
	return entries, err
}

// TarballFile returns the content of the file name (a path inside the
// package, such as "package.json") of an npm tarball.
func TarballFile(data []byte, name string) ([]byte, error) {
	var content []byte
	found := false
	err := walkTarball(data, func(n string, _ *tar.Header, r io.Reader) error {
		if n != name {
			return nil
		}
		found = true
		var err error
		content, err = io.ReadAll(io.LimitReader(r, 16<<20))
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("no %s in the tarball", name)
	}
	return content, err
}

// walkTarball calls fn for each regular file of an npm tarball.
func walkTarball(data []byte, fn func(name string, h *tar.Header, r io.Reader) error) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		switch {
		case h.Typeflag == tar.TypeDir:
			continue
		case h.Typeflag != tar.TypeReg:
			return fmt.Errorf("%s is not a regular file", h.Name)
		case !ok:
			return fmt.Errorf("%s is outside package/", h.Name)
		}
		if err := fn(name, h, tr); err != nil {
			return err
		}
	}
}

// Integrity is the subresource integrity npm and the registry compute of a
// tarball: "sha512-" and the base64 of its SHA-512.
func Integrity(data []byte) string {
	sum := sha512.Sum512(data)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// SHA256 is the hex SHA-256 of data, as SHA256SUMS has it.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
