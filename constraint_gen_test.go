package llada

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// randomPattern draws a small regular expression: literals, classes, alternation, repetition and groups over
// an alphabet of letters, digits, punctuation, a space and a non-ASCII letter. depth bounds the nesting.
func randomPattern(rng *rand.Rand, depth int) string {
	atoms := []string{"a", "b", "e", "t", "0", "7", "-", ",", `\.`, "é", "[a-c]", "[0-9]", `\d`, "[aeiou]", `[^ ]`, "x", "(?i:the)"}
	if depth <= 0 || rng.IntN(3) == 0 {
		return atoms[rng.IntN(len(atoms))]
	}
	switch rng.IntN(7) {
	case 0, 1: // concatenation
		n := 2 + rng.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = randomPattern(rng, depth-1)
		}
		return strings.Join(parts, "")
	case 2:
		return "(?:" + randomPattern(rng, depth-1) + "|" + randomPattern(rng, depth-1) + ")"
	case 3:
		return "(?:" + randomPattern(rng, depth-1) + ")*"
	case 4:
		return "(?:" + randomPattern(rng, depth-1) + ")+"
	case 5:
		return "(?:" + randomPattern(rng, depth-1) + ")?"
	default:
		lo := rng.IntN(3)
		return fmt.Sprintf("(?:%s){%d,%d}", randomPattern(rng, depth-1), lo, lo+rng.IntN(3))
	}
}

// randomText draws a string over the pattern alphabet plus whitespace and a few bytes no pattern uses.
func randomText(rng *rand.Rand, n int) string {
	alpha := []string{"a", "b", "e", "t", "T", "h", "H", "0", "7", "-", ",", ".", "é", "x", " ", "\n", "\t", "z", "\xff"}
	var b strings.Builder
	for range n {
		b.WriteString(alpha[rng.IntN(len(alpha))])
	}
	return b.String()
}
