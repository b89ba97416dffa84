package eval

// mean returns the arithmetic mean of v (0 for no values).
func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// meanVar returns the mean and the unbiased sample variance (0 for fewer than two values).
func meanVar(x []float64) (float64, float64) {
	m := mean(x)
	if len(x) < 2 {
		return m, 0
	}
	v := 0.0
	for _, e := range x {
		v += (e - m) * (e - m)
	}
	return m, v / float64(len(x)-1)
}
