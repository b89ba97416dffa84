package eval

import (
	"context"
	"fmt"
)

// MAUVE of two histograms over the same clusters, with the precision/recall reading: a model that puts all its
// mass on one of eight equally common human modes.
func ExampleMauveFromHistograms() {
	human := []float64{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}
	model := []float64{1, 0, 0, 0, 0, 0, 0, 0}
	r := MauveFromHistograms(human, model, 5, 25)
	fmt.Printf("MAUVE %.3f precision %.3f recall %.3f\n", r.Mauve, r.Precision, r.Recall)
	same := MauveFromHistograms(human, human, 5, 25)
	fmt.Printf("same histograms: MAUVE %.3f\n", same.Mauve)
	// Output:
	// MAUVE 0.025 precision 0.903 recall 0.127
	// same histograms: MAUVE 1.000
}

// SemanticSimilarity compares candidates with references through token features, here from a toy featurizer
// (one-hot token plus half of the previous position's vector).
func ExampleSemanticSimilarity() {
	enc, err := NewEncoder(&embedFeaturizer{dim: 8}, 8, 0, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	ref := []int{1, 2, 3, 4, 5}
	s, err := SemanticSimilarity(context.Background(), enc, [][]int{ref, {1, 2, 3, 6, 5}}, [][]int{ref, ref}, []int{2, 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("F1 %.3f cosine %.3f over %d pairs\n", s.F1, s.Cosine, s.Pairs)
	// Output: F1 0.885 cosine 0.845 over 2 pairs
}

// Word-level diversity counts words, not token ids.
func ExampleMeasureWordDiversity() {
	fmt.Println(Words("The cat's hat -- well-known!"))
	d := MeasureWordDiversity([]string{"the cat sat on the mat", "the cat sat on the hat"})
	fmt.Printf("distinct-1 %.2f distinct-2 %.2f self-BLEU %.2f\n", d.Distinct[0], d.Distinct[1], d.SelfBLEU)
	// Output:
	// [the cat's hat - - well-known !]
	// distinct-1 0.50 distinct-2 0.60 self-BLEU 0.76
}

// ReliabilityBins turns confidences and outcomes into a reliability diagram and the ECE.
func ExampleReliabilityBins() {
	s := ReliabilityBins([]float64{0.9, 0.9, 0.9, 0.9, 0.3}, []bool{true, true, true, false, false}, 10)
	fmt.Printf("ECE %.3f (confidence %.2f, accuracy %.2f)\n", s.ECE, s.Confidence, s.Accuracy)
	// Output: ECE 0.180 (confidence 0.78, accuracy 0.60)
}
