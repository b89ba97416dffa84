package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tarball(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestInstall(t *testing.T) {
	const member, body = "package/bin/lib.so", "the library"
	tgz := tarball(t, map[string]string{"package/README.md": "hi", member: body})
	good := artifact{sha256Hex(tgz), map[string]library{"linux/amd64": {member, sha256Hex([]byte(body))}}}
	fetches := 0
	fetch := func(context.Context) ([]byte, error) { fetches++; return tgz, nil }

	cache := t.TempDir()
	t.Setenv("LLADA_CACHE_DIR", cache)
	want, err := onnx.CacheLibraryPath()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(want, cache))

	var log bytes.Buffer
	got, err := install(t.Context(), good, "linux/amd64", fetch, &log)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	data, err := os.ReadFile(got)
	require.NoError(t, err)
	assert.Equal(t, body, string(data))
	assert.Equal(t, 1, fetches)
	_, err = install(t.Context(), good, "linux/amd64", fetch, &log)
	require.NoError(t, err)
	assert.Equal(t, 1, fetches, "an installed library with the right checksum is kept")
	assert.Contains(t, log.String(), "already installed")

	bad := func(a artifact, platform string, fetch Fetcher, want string) {
		t.Helper()
		cache := t.TempDir()
		t.Setenv("LLADA_CACHE_DIR", cache)
		_, err := install(t.Context(), a, platform, fetch, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
		entries, _ := os.ReadDir(filepath.Join(cache, "onnxruntime-"+onnx.RuntimeVersion))
		assert.Empty(t, entries, "nothing is installed after a failure")
	}
	bad(artifact{strings.Repeat("0", 64), good.libraries}, "linux/amd64", fetch, "refusing to install")
	bad(artifact{good.sha256, map[string]library{"linux/amd64": {member, strings.Repeat("0", 64)}}}, "linux/amd64", fetch,
		"package/bin/lib.so has SHA-256")
	bad(artifact{good.sha256, map[string]library{"linux/amd64": {"package/other", ""}}}, "linux/amd64", fetch, "has no package/other")
	bad(good, "plan9/386", fetch, "no library for plan9/386")
	bad(good, "linux/amd64", func(context.Context) ([]byte, error) { return nil, errors.New("offline") }, "offline")
	bad(artifact{sha256Hex([]byte("junk")), good.libraries}, "linux/amd64",
		func(context.Context) ([]byte, error) { return []byte("junk"), nil }, "not gzip")
}

// TestChecksumsMatchScript keeps the Go installer and scripts/install-onnxruntime.sh on the same artefacts.
func TestChecksumsMatchScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "install-onnxruntime.sh"))
	require.NoError(t, err)
	s := string(script)
	assert.Contains(t, s, "TGZ_SHA256="+tarballSHA256+"\n")
	assert.Contains(t, s, "LIB_SHA256="+libraries["linux/amd64"].sha256+"\n")
	assert.Contains(t, s, strings.TrimPrefix(libraries["linux/amd64"].member, "package/"))
	for _, goos := range []string{"linux", "darwin", "windows"} {
		found := false
		for p, lib := range libraries {
			if strings.HasPrefix(p, goos+"/") {
				found = true
				assert.Len(t, lib.sha256, 64)
			}
		}
		assert.True(t, found, "a library for %s", goos)
	}
}
