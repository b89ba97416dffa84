package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvalStudents runs the teacher-vs-student comparison end to end on the tiny fixtures of testdata/distill
// (make.py): the tiny masked model as teacher, its copy carrying SDTT keys (recommended llada-low-confidence at 4
// steps) as student, and the tiny model relabelled as judge. It checks that both models run the student's sampler
// over the NFE sweep, that the report, the README section and the figure are written, and that the flag's bad
// inputs are clear errors.
func TestEvalStudents(t *testing.T) {
	out := t.TempDir()
	args := []string{"eval", "--model", tinyDir, "--threads", "1", "--quiet", "--tasks", "distill",
		"--students", "sd=" + filepath.Join(distillFixtures, "masked"), "--judge", filepath.Join(distillFixtures, "judge", "model.onnx"),
		"--sentences", tinySentences(t), "--prompts", "3", "--prompt-length", "3", "--gen-length", "8",
		"--infill-sentences", "2", "--infill-length", "8", "--infill-spans", "1,2", "--distill-nfe", "2,8", "--out", out}
	stdout, stderr, code := runCLI(t, "", args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "README-section.md and 1 plots")
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	require.NoError(t, err)
	for _, want := range []string{
		"## Distillation: teachers vs students",
		"- student sd: `" + filepath.Join(distillFixtures, "masked") + "` (masked, vocabulary 50): distilled sdtt from model.onnx sha256:",
		// gen length 8: NFE 8 -> 1 token per pass, the recommended 4 -> 2, NFE 2 -> 4
		"| masked | teacher | llada-low-confidence | k=1 | 8.0 | 1.00 |",
		"| masked | teacher | llada-low-confidence | k=2 | 4.0 | 2.00 |",
		"| masked | teacher | llada-low-confidence | k=4 | 2.0 | 4.00 |",
		"| masked | sd (sdtt) | llada-low-confidence | k=2 | 4.0 | 2.00 |",
		"**sd** (sdtt, llada-low-confidence) at 4.0 NFE: gen PPL",
		"![teachers vs students: quality against NFE and wall clock](distill.png)",
	} {
		assert.Contains(t, string(md), want)
	}
	section, err := os.ReadFile(filepath.Join(out, "README-section.md"))
	require.NoError(t, err)
	assert.Contains(t, string(section), "**Distilled students vs their teachers.**")
	assert.Contains(t, string(section), filepath.ToSlash(filepath.Clean(out))+"/distill.png)")
	f, err := os.Open(filepath.Join(out, "distill.png"))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dy(), 1000, "one row of panels per metric")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no =", []string{"--students", "sd"}, `--students: "sd": want LABEL=DIR`},
		{"teacher label", []string{"--students", "teacher=" + tinyDir}, `label "teacher"`},
		{"duplicate label", []string{"--students", "a=" + tinyDir + ",a=" + tinyDir}, `label "a"`},
		{"missing dir", []string{"--tasks", "distill", "--model", tinyDir, "--sentences", tinySentences(t), "--students", "a=/nonexistent/student"}, "student a:"},
		{"bad nfe", []string{"--students", "a=" + tinyDir, "--distill-nfe", "4,0"}, "--distill-nfe"},
		{"bad temperature", []string{"--distill-temperature", "-1"}, "--distill-temperature"},
		{"distill without students", []string{"--tasks", "distill", "--model", tinyDir, "--sentences", tinySentences(t),
			"--judge", filepath.Join(distillFixtures, "judge", "model.onnx")}, "needs at least one student"},
		{"unknown recommended sampler", []string{"--tasks", "distill", "--model", tinyDir, "--sentences", tinySentences(t),
			"--judge", filepath.Join(distillFixtures, "judge", "model.onnx"), "--students", "b=" + filepath.Join(distillFixtures, "bad")},
			`student b: eval: unknown sampler "fastest"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"eval", "--threads", "1", "--quiet", "--out", t.TempDir()}, tc.args...)
			_, stderr, code := runCLI(t, "", args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
