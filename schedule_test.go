package llada

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func allSchedules(t *testing.T) []Schedule {
	var out []Schedule
	for _, k := range []ScheduleKind{ScheduleLinear, ScheduleCosine, ScheduleLogLinear, ScheduleGeometric, SchedulePolynomial} {
		s, err := NewSchedule(k)
		require.NoError(t, err)
		out = append(out, s)
	}
	return out
}

func TestSchedulesAreMonotoneWithBoundaries(t *testing.T) {
	for _, s := range allSchedules(t) {
		t.Run(string(s.Kind), func(t *testing.T) {
			assert.InDelta(t, 1, s.Alpha(0), 1e-3, "alpha(0) is (nearly) clean")
			assert.InDelta(t, 0, s.Alpha(1), 1.01e-3, "alpha(1) is (nearly) fully masked")
			prev := s.Alpha(0)
			for i := 1; i <= 1000; i++ {
				tt := float64(i) / 1000
				a := s.Alpha(tt)
				assert.LessOrEqual(t, a, prev+1e-15, "alpha decreases at t=%v", tt)
				prev = a
			}
		})
	}
	_, err := NewSchedule("sigmoid")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"sigmoid" is unknown`)
}

func TestUnmaskProb(t *testing.T) {
	lin, _ := NewSchedule(ScheduleLinear)
	assert.InDelta(t, 1-0.5/0.75, lin.UnmaskProb(0.75, 0.5), 1e-12, "linear: 1 - s/t")
	assert.InDelta(t, 1, lin.UnmaskProb(0.25, 0), 1e-12)
	for _, s := range allSchedules(t) {
		p := s.UnmaskProb(0.6, 0.4)
		assert.True(t, p > 0 && p < 1, "%s: %v", s.Kind, p)
	}
}

func TestTimeGrids(t *testing.T) {
	g := UniformGrid(nil, 4, 1e-3)
	require.Len(t, g, 5)
	assert.Equal(t, 1.0, g[0])
	assert.Equal(t, 1e-3, g[4])
	assert.InDelta(t, 0.75025, g[1], 1e-12)
	c := CosineGrid(nil, 8, 1e-5)
	require.Len(t, c, 9)
	assert.Equal(t, 1.0, c[0])
	assert.Equal(t, 1e-5, c[8])
	for i := 1; i < len(c); i++ {
		assert.Less(t, c[i], c[i-1])
	}
	assert.Less(t, c[0]-c[1], c[7]-c[8], "cosine grid takes short steps near t=1")
}

func TestTransferCountRulesSumToMasks(t *testing.T) {
	lin, _ := NewSchedule(ScheduleLinear)
	for masked := 0; masked <= 40; masked++ {
		for steps := 1; steps <= 12; steps++ {
			sum := 0
			for _, n := range LLaDATransferCounts(nil, masked, steps) {
				sum += n
			}
			assert.Equal(t, masked, sum, "llada m=%d steps=%d", masked, steps)

			for _, s := range allSchedules(t) {
				sum = 0
				for _, n := range DLLMTransferCounts(nil, masked, steps, s) {
					assert.Positive(t, n, "dllm drops empty steps")
					sum += n
				}
				assert.Equal(t, masked, sum, "dllm %s m=%d steps=%d", s.Kind, masked, steps)
			}

			left := masked
			for i := 0; i < steps; i++ {
				n := DreamTransferCount(left, i, steps, 1e-3)
				require.GreaterOrEqual(t, n, 0)
				left -= n
			}
			assert.Equal(t, 0, left, "dream m=%d steps=%d", masked, steps)
		}
	}
	_ = lin
}

func TestTransferCountValues(t *testing.T) {
	lin, _ := NewSchedule(ScheduleLinear)
	// dllm: 10*(1/4)=2.5 -> 2 (half to even), 8*(1/3) -> 3, 5*(1/2)=2.5 -> 2, then the rest.
	assert.Equal(t, []int{2, 3, 2, 3}, DLLMTransferCounts(nil, 10, 4, lin))
	// Dream, eps=1e-3: t = 1, .75025, .5005, .25075, .001 -> int(10*.24975)=2, int(8*.3329)=2, int(6*.499)=2, rest 4.
	var got []int
	left := 10
	for i := 0; i < 4; i++ {
		n := DreamTransferCount(left, i, 4, 1e-3)
		got = append(got, n)
		left -= n
	}
	assert.Equal(t, []int{2, 2, 2, 4}, got)
	// LLaDA 2.x splits the block length, whatever the masks.
	assert.Equal(t, []int{3, 3, 2}, LLaDA2TransferCounts(nil, 8, 3))
	// ATen's linspace: the second half counts down from the end.
	assert.Equal(t, float32(1e-3), linspace32(1, 1e-3, 5, 4))
	assert.Equal(t, float32(1), linspace32(1, 1e-3, 5, 0))
}
