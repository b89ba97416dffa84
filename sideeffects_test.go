package llada_test

import (
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	// Every package of the module, so that their package initialisation runs in this test binary;
	// TestImportsEveryPackage keeps this list complete.
	_ "github.com/llada-go/llada"
	_ "github.com/llada-go/llada/chat"
	_ "github.com/llada-go/llada/eval"
	_ "github.com/llada-go/llada/eval/plots"
	_ "github.com/llada-go/llada/onnx"
	_ "github.com/llada-go/llada/onnx/install"
)

// TestNoGlobalSideEffects: importing the library leaves the process' global state as a fresh process has it:
// the standard logger, slog's default, logrus' standard logger (gonja, under package chat, logs through
// it), the command-line flag set (only the testing package's flags), GOMAXPROCS, and the environment.
func TestNoGlobalSideEffects(t *testing.T) {
	assert.Equal(t, io.Writer(os.Stderr), log.Writer(), "log output")
	assert.Equal(t, log.LstdFlags, log.Flags(), "log flags")
	assert.Empty(t, log.Prefix(), "log prefix")
	// slog's default handler is the unexported one that writes through package log.
	assert.Equal(t, "*slog.defaultHandler", fmt.Sprintf("%T", slog.Default().Handler()), "slog default")
	assert.True(t, slog.Default().Enabled(t.Context(), slog.LevelInfo))
	assert.False(t, slog.Default().Enabled(t.Context(), slog.LevelDebug))

	std := logrus.StandardLogger()
	assert.Equal(t, io.Writer(os.Stderr), std.Out, "logrus output")
	assert.Equal(t, logrus.InfoLevel, std.GetLevel(), "logrus level")
	assert.IsType(t, &logrus.TextFormatter{}, std.Formatter, "logrus formatter")
	assert.Empty(t, std.Hooks, "logrus hooks")
	assert.False(t, std.ReportCaller, "logrus caller reporting")

	flag.VisitAll(func(f *flag.Flag) {
		assert.True(t, strings.HasPrefix(f.Name, "test."), "flag -%s registered on the global flag set", f.Name)
	})
	assert.Equal(t, runtime.NumCPU(), runtime.GOMAXPROCS(0), "GOMAXPROCS")
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		t.Logf("GOMAXPROCS=%s is set; the GOMAXPROCS check is only meaningful without it", v)
	}

	// The environment: a child run of this test binary, started with a known environment, reports its own
	// after package initialisation.
	if os.Getenv("LLADA_SIDEEFFECT_CHILD") == "1" {
		fmt.Println(strconv.Quote(strings.Join(os.Environ(), "\x00")))
		return
	}
	env := []string{"LLADA_SIDEEFFECT_CHILD=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoGlobalSideEffects$", "-test.v")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var got string
	for _, line := range strings.Split(string(out), "\n") {
		if s, err := strconv.Unquote(line); err == nil {
			got = s
		}
	}
	require.NotEmpty(t, got, "child output: %s", out)
	assert.Equal(t, env, strings.Split(got, "\x00"), "environment after importing the library")
}

// TestImportsEveryPackage fails when a package is added to the module without being imported above (commands,
// package main, cannot be imported).
func TestImportsEveryPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{if ne .Name "main"}}{{.ImportPath}}{{end}}`, "./...").Output()
	require.NoError(t, err)
	f, err := parser.ParseFile(token.NewFileSet(), "sideeffects_test.go", nil, parser.ImportsOnly)
	require.NoError(t, err)
	var imported []string
	for _, im := range f.Imports {
		if im.Name != nil && im.Name.Name == "_" {
			p, _ := strconv.Unquote(im.Path.Value)
			imported = append(imported, p)
		}
	}
	pkgs := strings.Fields(string(out))
	slices.Sort(pkgs)
	slices.Sort(imported)
	assert.Equal(t, pkgs, imported)
}
