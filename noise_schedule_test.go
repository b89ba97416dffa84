package llada

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Closed forms written out independently of noise_schedule.go, evaluated at a few times.
func TestNoiseScheduleClosedForms(t *testing.T) {
	table := []SchedulePoint{{0, 0.05}, {0.3, 0.5}, {0.8, 4}, {1, 40}}
	cases := []struct {
		s        NoiseSchedule
		alphaBar func(t float64) float64 // nil: from sigma
		sigma    func(t float64) float64 // nil: from alpha_bar
	}{
		{NoiseSchedule{Kind: NoiseLinearBeta}, func(t float64) float64 { return math.Exp(-0.1*t - 9.95*t*t) }, nil},
		{NoiseSchedule{Kind: NoiseLinearBeta, BetaMin: 0.5, BetaMax: 10}, func(t float64) float64 { return math.Exp(-0.5*t - 4.75*t*t) }, nil},
		{NoiseSchedule{Kind: NoiseCosine}, func(t float64) float64 {
			f := func(u float64) float64 { return math.Pow(math.Cos((u+0.008)/1.008*math.Pi/2), 2) }
			return f(t) / f(0)
		}, nil},
		{NoiseSchedule{Kind: NoiseSqrt}, func(t float64) float64 { return 1 - math.Sqrt(t+1e-4) }, nil},
		{NoiseSchedule{Kind: NoiseEDM, SigmaMin: 0.002, SigmaMax: 80}, nil, func(t float64) float64 {
			return math.Pow(math.Pow(0.002, 1.0/7)+t*(math.Pow(80, 1.0/7)-math.Pow(0.002, 1.0/7)), 7)
		}},
		{NoiseSchedule{Kind: NoiseVE, SigmaMin: 0.01, SigmaMax: 50}, nil, func(t float64) float64 { return 0.01 * math.Pow(5000, t) }},
		{NoiseSchedule{Kind: NoiseTabulated, Table: table}, nil, func(t float64) float64 {
			// log-linear between (0.3, 0.5) and (0.8, 4) at the test times inside that segment
			return math.Exp(math.Log(0.5) + (t-0.3)/0.5*(math.Log(4)-math.Log(0.5)))
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.s.Kind), func(t *testing.T) {
			require.NoError(t, tc.s.Validate())
			ts := []float64{0.05, 0.25, 0.5, 0.75, 0.95}
			if tc.s.Kind == NoiseTabulated {
				ts = []float64{0.35, 0.5, 0.75}
			}
			for _, tt := range ts {
				var ab, sg float64
				if tc.alphaBar != nil {
					ab = tc.alphaBar(tt)
					sg = math.Sqrt((1 - ab) / ab)
				} else {
					sg = tc.sigma(tt)
					ab = 1 / (1 + sg*sg)
				}
				assert.InEpsilon(t, ab, tc.s.AlphaBar(tt), 1e-12, "alpha_bar(%v)", tt)
				assert.InEpsilon(t, sg, tc.s.Sigma(tt), 1e-10, "sigma(%v)", tt)
				lsnr := math.Log(ab / (1 - ab))
				assert.InDelta(t, lsnr, tc.s.LogSNR(tt), 1e-9, "log-SNR(%v)", tt)
				// inverses
				assert.InDelta(t, tt, tc.s.TOfAlphaBar(ab), 1e-9, "t(alpha_bar)")
				assert.InDelta(t, tt, tc.s.TOfSigma(sg), 1e-9, "t(sigma)")
				assert.InDelta(t, tt, tc.s.TOfLogSNR(lsnr), 1e-9, "t(log-SNR)")
			}
			// monotone: more noise at later times
			for tt := 0.0; tt < 0.99; tt += 0.01 {
				assert.Less(t, tc.s.Sigma(tt), tc.s.Sigma(tt+0.01))
			}
		})
	}
}

func TestNoiseScheduleBadInput(t *testing.T) {
	for _, tc := range []struct {
		s    NoiseSchedule
		want string
	}{
		{NoiseSchedule{Kind: "quadratic"}, `kind "quadratic" is unknown`},
		{NoiseSchedule{Kind: NoiseLinearBeta, BetaMin: 5, BetaMax: 1}, "beta_min"},
		{NoiseSchedule{Kind: NoiseEDM, SigmaMin: 1, SigmaMax: 0.5}, "sigma_min"},
		{NoiseSchedule{Kind: NoiseVE, SigmaMin: math.NaN(), SigmaMax: 1}, "sigma_min"},
		{NoiseSchedule{Kind: NoiseTabulated, Table: []SchedulePoint{{0, 1}}}, "at least 2"},
		{NoiseSchedule{Kind: NoiseTabulated, Table: []SchedulePoint{{0, 1}, {0.5, 0.8}, {1, 3}}}, "not monotone at point 1"},
		{NoiseSchedule{Kind: NoiseTabulated, Table: []SchedulePoint{{0, 1}, {0.5, 2}, {0.5, 3}, {1, 4}}}, "not monotone at point 2"},
		{NoiseSchedule{Kind: NoiseTabulated, Table: []SchedulePoint{{0.1, 1}, {1, 4}}}, "want [0,1]"},
		{NoiseSchedule{Kind: NoiseTabulated, Table: []SchedulePoint{{0, 0}, {1, 4}}}, "sigma > 0"},
	} {
		err := tc.s.Validate()
		require.ErrorIs(t, err, ErrBadSchedule)
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestSigmaGridCapsAndEndsAtZero(t *testing.T) {
	s := NoiseSchedule{Kind: NoiseCosine} // sigma(1) is infinite
	g := s.SigmaGrid(nil, 4, 40)
	require.Len(t, g, 5)
	assert.Equal(t, 40.0, g[0], "capped at sigma_max")
	assert.InEpsilon(t, s.Sigma(0.75), g[1], 1e-12)
	assert.InEpsilon(t, s.Sigma(0.25), g[3], 1e-12)
	assert.Equal(t, 0.0, g[4])
}
