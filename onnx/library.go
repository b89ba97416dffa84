package onnx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RuntimeVersion is the ONNX Runtime release that scripts/install-onnxruntime.sh installs and that
// github.com/yalue/onnxruntime_go v1.35.0 is used with.
const RuntimeVersion = "1.30.0"

// EnvLibraryPath is the environment variable that names the shared library when no explicit path is given.
const EnvLibraryPath = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// ErrLibraryNotFound is wrapped by every error that means "no ONNX Runtime library could be located".
var ErrLibraryNotFound = errors.New("ONNX Runtime shared library not found")

// InstallCommand installs ONNX Runtime RuntimeVersion into the llada cache (CacheLibraryPath). Run it from a
// module that requires llada, so that it installs the version that module's llada expects; the CLI has the
// same as `llada install-onnxruntime`, and a checkout has scripts/install-onnxruntime.sh (linux-x64).
const InstallCommand = "go run github.com/llada-go/llada/onnx/cmd/install-onnxruntime"

const installHint = "install it with `" + InstallCommand + "` (from your module; or `llada install-onnxruntime`, or " +
	"`bash scripts/install-onnxruntime.sh` in a checkout), which puts ONNX Runtime " + RuntimeVersion +
	" into the llada cache, or set " + EnvLibraryPath + " to the library file"

// CacheDir is the llada cache: $LLADA_CACHE_DIR, else $XDG_CACHE_HOME/llada, else ~/.cache/llada (the same
// rule on every system, so that the installers and LibraryPath agree).
func CacheDir() (string, error) {
	if dir := os.Getenv("LLADA_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("onnx: cache directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "llada"), nil
}

// CacheLibraryPath is where the installers put the library: CacheDir, then onnxruntime-<version>/ and the
// platform's file name (libonnxruntime.so.1 on Linux, libonnxruntime.<version>.dylib on macOS,
// onnxruntime.dll on Windows: the names in the onnxruntime-node package). It mirrors
// scripts/install-onnxruntime.sh's rule so the two cannot drift apart silently (a test checks the script text).
func CacheLibraryPath() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "onnxruntime-"+RuntimeVersion, platformLibrary(runtime.GOOS).cacheName), nil
}

// libraryNames are the places and names an ONNX Runtime shared library has on one operating system.
type libraryNames struct {
	cacheName string   // file name in the llada cache
	names     []string // names searched in dirs
	dirs      []string // system library directories, in order
	pathDirs  bool     // also search $PATH (Windows loads DLLs from there)
	ldconfig  bool     // also ask the dynamic linker cache
}

func platformLibrary(goos string) libraryNames {
	switch goos {
	case "darwin":
		return libraryNames{
			cacheName: "libonnxruntime." + RuntimeVersion + ".dylib",
			names:     []string{"libonnxruntime.dylib", "libonnxruntime.1.dylib", "libonnxruntime." + RuntimeVersion + ".dylib"},
			dirs:      []string{"/opt/homebrew/lib", "/usr/local/lib", "/usr/lib"},
		}
	case "windows":
		return libraryNames{cacheName: "onnxruntime.dll", names: []string{"onnxruntime.dll"}, pathDirs: true}
	}
	return libraryNames{
		cacheName: "libonnxruntime.so.1",
		names:     []string{"libonnxruntime.so.1", "libonnxruntime.so", "libonnxruntime.so." + RuntimeVersion},
		dirs: []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
			"/usr/local/lib64", "/usr/lib64"},
		ldconfig: true,
	}
}

// LibraryPath resolves the ONNX Runtime shared library: the explicit path if non-empty, else
// $ONNXRUNTIME_SHARED_LIBRARY_PATH, else the llada cache (CacheLibraryPath), else the platform's usual
// names in its system library directories (and the ldconfig cache on Linux, $PATH on Windows). An explicit
// path or environment variable that names a missing file is an error rather than a reason to fall through: the
// user asked for that file. Errors wrap ErrLibraryNotFound and say how to install the library.
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
	plat := platformLibrary(runtime.GOOS)
	dirs := plat.dirs
	if plat.pathDirs {
		dirs = append(dirs[:len(dirs):len(dirs)], filepath.SplitList(os.Getenv("PATH"))...)
	}
	for _, d := range dirs {
		for _, n := range plat.names {
			p := filepath.Join(d, n)
			if isFile(p) {
				return p, nil
			}
		}
	}
	where := "the system library directories (" + strings.Join(plat.dirs, ", ") + ")"
	if plat.pathDirs {
		where = "$PATH"
	}
	tried = append(tried, where)
	if plat.ldconfig {
		if p := ldconfigLookup(); p != "" {
			return p, nil
		}
		tried = append(tried, "the ldconfig cache")
	}
	return "", fmt.Errorf("onnx: %w (looked for %s in %s); %s", ErrLibraryNotFound, strings.Join(plat.names, ", "),
		strings.Join(tried, "; "), installHint)
}

func checkFile(p, origin string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("onnx: %w at %s %q: %v; %s", ErrLibraryNotFound, origin, p, err, installHint)
	}
	if st.IsDir() {
		return "", fmt.Errorf("onnx: %w at %s %q: it is a directory, want the library file; %s",
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
