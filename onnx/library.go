package onnx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RuntimeVersion is the ONNX Runtime release that scripts/install-onnxruntime.sh installs and that
// github.com/yalue/onnxruntime_go v1.35.0 is used with.
const RuntimeVersion = "1.30.0"

// EnvLibraryPath is the environment variable that names the shared library when no explicit path is given.
const EnvLibraryPath = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// ErrLibraryNotFound is wrapped by every error that means "no ONNX Runtime library could be located".
var ErrLibraryNotFound = errors.New("ONNX Runtime shared library not found")

const installHint = "run `bash scripts/install-onnxruntime.sh` (installs ONNX Runtime " + RuntimeVersion +
	" into the llada cache) or set " + EnvLibraryPath + " to libonnxruntime.so"

// CacheLibraryPath is where scripts/install-onnxruntime.sh puts the library: $LLADA_CACHE_DIR, else
// $XDG_CACHE_HOME/llada, else ~/.cache/llada, then onnxruntime-<version>/libonnxruntime.so.1. It mirrors the
// script's own rule so the two cannot drift apart silently (a test checks the script text).
func CacheLibraryPath() (string, error) {
	dir := os.Getenv("LLADA_CACHE_DIR")
	if dir == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("onnx: cache directory: %w", err)
			}
			base = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(base, "llada")
	}
	return filepath.Join(dir, "onnxruntime-"+RuntimeVersion, "libonnxruntime.so.1"), nil
}

// systemDirs are searched, in order, after the cache; then the dynamic linker's cache (ldconfig -p).
var systemDirs = []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/local/lib64", "/usr/lib64"}

var systemNames = []string{"libonnxruntime.so.1", "libonnxruntime.so", "libonnxruntime.so." + RuntimeVersion}

// LibraryPath resolves the ONNX Runtime shared library: the explicit path if non-empty, else
// $ONNXRUNTIME_SHARED_LIBRARY_PATH, else the project cache (CacheLibraryPath), else the system library
// directories and the names ldconfig knows. An explicit path or environment variable that names a missing file
// is an error rather than a reason to fall through: the user asked for that file. Errors wrap
// ErrLibraryNotFound and say how to install the library.
func LibraryPath(explicit string) (string, error) {
	if explicit != "" {
		return checkFile(explicit, "explicit library path")
	}
	if env := os.Getenv(EnvLibraryPath); env != "" {
		return checkFile(env, "$"+EnvLibraryPath)
	}
	var tried []string
	if p, err := CacheLibraryPath(); err == nil {
		if isFile(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	for _, d := range systemDirs {
		for _, n := range systemNames {
			p := filepath.Join(d, n)
			if isFile(p) {
				return p, nil
			}
		}
	}
	tried = append(tried, strings.Join(systemDirs, ", "))
	if p := ldconfigLookup(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("onnx: %w (looked in %s and the ldconfig cache); %s", ErrLibraryNotFound,
		strings.Join(tried, "; "), installHint)
}

func checkFile(p, origin string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("onnx: %w at %s %q: %v; %s", ErrLibraryNotFound, origin, p, err, installHint)
	}
	if st.IsDir() {
		return "", fmt.Errorf("onnx: %w at %s %q: it is a directory, want the libonnxruntime.so file; %s",
			ErrLibraryNotFound, origin, p, installHint)
	}
	return p, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// ldconfigLookup asks the dynamic linker cache; a missing ldconfig is not an error, just no answer.
func ldconfigLookup() string {
	for _, bin := range []string{"/sbin/ldconfig", "/usr/sbin/ldconfig"} {
		if !isFile(bin) {
			continue
		}
		out, err := exec.Command(bin, "-p").Output()
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "libonnxruntime.so") {
				continue
			}
			if _, p, ok := strings.Cut(line, "=> "); ok && isFile(strings.TrimSpace(p)) {
				return strings.TrimSpace(p)
			}
		}
	}
	return ""
}
