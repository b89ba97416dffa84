//go:build cgo

package onnx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLibraryPathResolution(t *testing.T) {
	dir := t.TempDir()
	fake := func(p string) string {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("not really a library"), 0o644))
		return p
	}
	explicit := fake(filepath.Join(dir, "explicit", "libonnxruntime.so"))
	envLib := fake(filepath.Join(dir, "env", "libonnxruntime.so"))
	llada := fake(filepath.Join(dir, "llada-cache", "onnxruntime-1.30.0", "libonnxruntime.so.1"))
	xdg := fake(filepath.Join(dir, "xdg", "llada", "onnxruntime-1.30.0", "libonnxruntime.so.1"))
	home := fake(filepath.Join(dir, "home", ".cache", "llada", "onnxruntime-1.30.0", "libonnxruntime.so.1"))

	cases := []struct {
		name                      string
		explicit, env, cache, xdg string
		want                      string
	}{
		{"explicit wins", explicit, envLib, filepath.Join(dir, "llada-cache"), "", explicit},
		{"env next", "", envLib, filepath.Join(dir, "llada-cache"), "", envLib},
		{"LLADA_CACHE_DIR", "", "", filepath.Join(dir, "llada-cache"), filepath.Join(dir, "xdg"), llada},
		{"XDG_CACHE_HOME", "", "", "", filepath.Join(dir, "xdg"), xdg},
		{"HOME", "", "", "", "", home},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(EnvLibraryPath, c.env)
			t.Setenv("LLADA_CACHE_DIR", c.cache)
			t.Setenv("XDG_CACHE_HOME", c.xdg)
			t.Setenv("HOME", filepath.Join(dir, "home"))
			got, err := LibraryPath(c.explicit)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestLibraryPathErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", filepath.Join(dir, "home"))
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("LLADA_CACHE_DIR", filepath.Join(dir, "empty-cache"))
	cases := []struct {
		name, explicit, env string
		want                []string
	}{
		{"explicit missing", filepath.Join(dir, "nope.so"), "", []string{"explicit library path", "nope.so"}},
		{"explicit is a directory", dir, "", []string{"is a directory"}},
		{"env missing", "", filepath.Join(dir, "gone.so"), []string{"$ONNXRUNTIME_SHARED_LIBRARY_PATH", "gone.so"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(EnvLibraryPath, c.env)
			_, err := LibraryPath(c.explicit)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrLibraryNotFound))
			assert.Contains(t, err.Error(), InstallCommand)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	// Nothing anywhere: only checkable where no system copy exists (true on the project machines, where the
	// library lives only in the cache).
	t.Setenv(EnvLibraryPath, "")
	if p, err := LibraryPath(""); err == nil {
		t.Logf("a system ONNX Runtime exists at %s; the not-found branch is covered by the cases above", p)
	} else {
		assert.True(t, errors.Is(err, ErrLibraryNotFound))
		assert.Contains(t, err.Error(), filepath.Join(dir, "empty-cache"))
		assert.Contains(t, err.Error(), InstallCommand)
	}
}

// TestCachePathMatchesInstaller keeps CacheLibraryPath and the installer script in step.
func TestCachePathMatchesInstaller(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "scripts", "install-onnxruntime.sh"))
	require.NoError(t, err)
	s := string(script)
	assert.Contains(t, s, "ORT_VERSION="+RuntimeVersion+"\n")
	assert.Contains(t, s, `cache="${LLADA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llada}"`)
	assert.Contains(t, s, `dest="$cache/onnxruntime-$ORT_VERSION"`)
	assert.Contains(t, s, `lib="$dest/libonnxruntime.so.1"`)
}

func TestMissingLibraryOnOpen(t *testing.T) {
	s, err := Open(modelPath("tiny.onnx"), WithLibraryPath(filepath.Join(t.TempDir(), "libonnxruntime.so")))
	require.Error(t, err)
	assert.Nil(t, s)
	assert.True(t, errors.Is(err, ErrLibraryNotFound))
	assert.Contains(t, err.Error(), InstallCommand)
}

func TestSecondLibraryIsRefused(t *testing.T) {
	lib := requireLibrary(t)
	tiny := shared(t, "tiny.onnx") // make sure the process has loaded the real library
	assert.Equal(t, lib, tiny.Library())
	assert.Equal(t, lib, LoadedLibrary())
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	require.NoError(t, os.WriteFile(other, []byte("another build"), 0o644))
	s, err := Open(modelPath("tiny.onnx"), WithLibraryPath(other))
	require.Error(t, err)
	assert.Nil(t, s)
	assert.Contains(t, err.Error(), "already loaded from")
	assert.Contains(t, err.Error(), other)

	// The same file under another name is the same library.
	link := filepath.Join(t.TempDir(), "link.so")
	require.NoError(t, os.Symlink(lib, link))
	s, err = Open(modelPath("tiny_nomask.onnx"), WithLibraryPath(link), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestNotALibrary needs a process that has not loaded ONNX Runtime yet, so it re-runs this test binary.
func TestNotALibrary(t *testing.T) {
	if os.Getenv("LLADA_ONNX_CHILD") == "1" {
		_, err := Open(modelPath("tiny.onnx"), WithLibraryPath(os.Getenv("LLADA_ONNX_FAKE_LIB")))
		if err == nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(err.Error())
		os.Exit(0)
	}
	fake := filepath.Join(t.TempDir(), "libonnxruntime.so")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\necho not an ELF\n"), 0o644))
	cmd := exec.Command(os.Args[0], "-test.run=^TestNotALibrary$")
	cmd.Env = append(os.Environ(), "LLADA_ONNX_CHILD=1", "LLADA_ONNX_FAKE_LIB="+fake)
	out, err := cmd.Output()
	require.NoError(t, err, "child must return an error, not crash: %s", out)
	msg := string(out)
	assert.Contains(t, msg, "loading ONNX Runtime from")
	assert.Contains(t, msg, fake)
	assert.True(t, strings.Contains(msg, "invalid ELF header") || strings.Contains(msg, "file too short"), msg)
}

// TestPlatformLibraryNames: each operating system looks for its own file names, and the cache name is one
// the onnxruntime-node package ships for it.
func TestPlatformLibraryNames(t *testing.T) {
	for goos, want := range map[string]string{
		"linux":   "libonnxruntime.so.1",
		"darwin":  "libonnxruntime.1.30.0.dylib",
		"windows": "onnxruntime.dll",
	} {
		p := platformLibrary(goos)
		assert.Equal(t, want, p.cacheName, goos)
		assert.Contains(t, p.names, want, "%s: the cache file name is also searched in system places", goos)
		assert.Equal(t, goos == "linux", p.ldconfig, goos)
		assert.Equal(t, goos == "windows", p.pathDirs, goos)
	}
	// The command the errors name exists in this module.
	main, err := os.ReadFile(filepath.Join("cmd", "install-onnxruntime", "main.go"))
	require.NoError(t, err)
	assert.Contains(t, string(main), "package main")
	assert.Equal(t, "go run github.com/llada-go/llada/onnx/cmd/install-onnxruntime", InstallCommand)
}
