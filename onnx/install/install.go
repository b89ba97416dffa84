// Package install puts the ONNX Runtime shared library that package onnx expects into the llada cache, on
// Linux (x64, arm64), macOS (arm64) and Windows (x64, arm64), so that a program that got llada with `go get`
// needs no checkout of the repository and no system package:
//
//	go run github.com/llada-go/llada/onnx/cmd/install-onnxruntime
//
// The library comes from the npm package onnxruntime-node (the official prebuilt ONNX Runtime builds), fetched
// with `npm pack` when npm is installed and over HTTPS from the npm registry otherwise, and is verified by
// SHA-256 (the package tarball, then the library inside it) before it is installed.
package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/llada-go/llada/onnx"
)

// Package is the npm package that carries the libraries.
const Package = "onnxruntime-node@" + onnx.RuntimeVersion

// TarballURL is where the npm registry serves Package.
const TarballURL = "https://registry.npmjs.org/onnxruntime-node/-/onnxruntime-node-" + onnx.RuntimeVersion + ".tgz"

// tarballSHA256 is the SHA-256 of onnxruntime-node-1.30.0.tgz (also in scripts/install-onnxruntime.sh).
const tarballSHA256 = "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75"

// artifact is a tarball and the libraries in it, by GOOS/GOARCH.
type artifact struct {
	sha256    string
	libraries map[string]library
}

var onnxruntimeNode = artifact{tarballSHA256, libraries}

// library is one platform's library inside the tarball.
type library struct {
	member string // path inside the tarball
	sha256 string
}

// libraries maps GOOS/GOARCH to the library for it in onnxruntime-node 1.30.0.
var libraries = map[string]library{
	"linux/amd64": {"package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		"ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"},
	"linux/arm64": {"package/bin/napi-v6/linux/arm64/libonnxruntime.so.1",
		"1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76"},
	"darwin/arm64": {"package/bin/napi-v6/darwin/arm64/libonnxruntime.1.30.0.dylib",
		"685d2be5dba1309c89d3a5324b7fd06a5c42f1a61bfea32d14c4cc28d072121d"},
	"windows/amd64": {"package/bin/napi-v6/win32/x64/onnxruntime.dll",
		"508c362f5673483dd3a086379c392795b2e42d10d5e6f3f90ebd7ac21c97af67"},
	"windows/arm64": {"package/bin/napi-v6/win32/arm64/onnxruntime.dll",
		"6c3a2abf5c6aca11c48a0d338a91af309f2266f25ce2e4084e6a87bbcb0fbfd0"},
}

// Fetcher returns the bytes of the Package tarball.
type Fetcher func(ctx context.Context) ([]byte, error)

// Install installs the library for this platform into onnx.CacheLibraryPath and returns that path. It is
// idempotent: a library already there with the right checksum is kept. Progress goes to log.
func Install(ctx context.Context, log io.Writer) (string, error) {
	return install(ctx, onnxruntimeNode, runtime.GOOS+"/"+runtime.GOARCH, Fetch, log)
}

func install(ctx context.Context, a artifact, platform string, fetch Fetcher, log io.Writer) (string, error) {
	lib, ok := a.libraries[platform]
	if !ok {
		return "", fmt.Errorf("install: onnxruntime-node %s has no library for %s; build ONNX Runtime %s yourself "+
			"and set %s to it", onnx.RuntimeVersion, platform, onnx.RuntimeVersion, onnx.EnvLibraryPath)
	}
	dest, err := onnx.CacheLibraryPath()
	if err != nil {
		return "", err
	}
	if sum, err := fileSHA256(dest); err == nil && sum == lib.sha256 {
		fmt.Fprintf(log, "ONNX Runtime %s is already installed at %s\n", onnx.RuntimeVersion, dest)
		return dest, nil
	}
	fmt.Fprintf(log, "fetching %s (about 110 MB) ...\n", Package)
	tgz, err := fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("install: fetching %s: %w", Package, err)
	}
	if sum := sha256Hex(tgz); sum != a.sha256 {
		return "", fmt.Errorf("install: %s has SHA-256 %s, want %s: refusing to install it", Package, sum, a.sha256)
	}
	data, err := extract(tgz, lib.member)
	if err != nil {
		return "", err
	}
	if sum := sha256Hex(data); sum != lib.sha256 {
		return "", fmt.Errorf("install: %s has SHA-256 %s, want %s: refusing to install it", lib.member, sum, lib.sha256)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	tmp := dest + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", errors.Join(fmt.Errorf("install: %w", err), os.Remove(tmp))
	}
	fmt.Fprintf(log, "installed ONNX Runtime %s at %s\n", onnx.RuntimeVersion, dest)
	return dest, nil
}

// Fetch gets the tarball with `npm pack` when npm is on $PATH (it honours the user's registry and proxy
// settings), else over HTTPS from TarballURL.
func Fetch(ctx context.Context) ([]byte, error) {
	if npm, err := exec.LookPath("npm"); err == nil {
		return npmPack(ctx, npm)
	}
	return httpGet(ctx, TarballURL)
}

func npmPack(ctx context.Context, npm string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "llada-ort-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", Package)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("npm pack %s: %w: %s", Package, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return os.ReadFile(filepath.Join(dir, "onnxruntime-node-"+onnx.RuntimeVersion+".tgz"))
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// extract returns one regular file of a gzipped tarball.
func extract(tgz []byte, member string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("install: %s is not gzip: %w", Package, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("install: %s has no %s", Package, member)
		}
		if err != nil {
			return nil, fmt.Errorf("install: reading %s: %w", Package, err)
		}
		if h.Name == member && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}
