package llada

// LLaDATransferCounts splits masked tokens evenly over steps, front-loading the remainder: the number of tokens
// committed at each step of one block under LLaDA's linear schedule. With masked=10 and steps=4 it returns
// [3 3 2 2]. dst is reused when it has capacity.
//
// Semantics match get_num_transfer_tokens in ML-GSAI/LLaDA generate.py: base = m // steps, and the first
// m % steps steps take one more.
func LLaDATransferCounts(dst []int, masked, steps int) []int {
	dst = dst[:0]
	if steps <= 0 {
		return dst
	}
	base, rem := masked/steps, masked%steps
	for i := 0; i < steps; i++ {
		n := base
		if i < rem {
			n++
		}
		dst = append(dst, n)
	}
	return dst
}
