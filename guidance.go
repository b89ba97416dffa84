package llada

// mixGuidance applies classifier-free guidance in place: cond becomes uncond + (scale+1)*(cond-uncond).
//
// This is the parameterisation of ML-GSAI/LLaDA generate.py (cfg_scale 0 = no guidance), not the
// "w*cond + (1-w)*uncond" one, so that configs carry over from the reference unchanged.
func mixGuidance(cond, uncond []float32, scale float64) {
	s := float32(scale + 1)
	uncond = uncond[:len(cond)]
	for i, c := range cond {
		u := uncond[i]
		cond[i] = u + s*(c-u)
	}
}
