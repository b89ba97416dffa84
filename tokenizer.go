package llada

// Tokenizer turns text into token ids and back. It is independent of the inference backend: the default is the
// pure-Go tokenizer.json implementation (LoadTokenizer, *HFTokenizer); a cgo backend on the Rust library
// (LoadDauletTokenizer) is compiled in with the build tag daulet.
type Tokenizer interface {
	// Encode returns the ids of text; addSpecial applies the tokenizer's post-processor (BOS/CLS/SEP...).
	Encode(text string, addSpecial bool) ([]int, error)
	// Decode returns the text of ids; skipSpecial drops special tokens. Out-of-range ids are an error.
	Decode(ids []int, skipSpecial bool) (string, error)
	// VocabSize counts every id the tokenizer can produce, added tokens included.
	VocabSize() int
	// TokenID looks up a token string (e.g. "<|mdm_mask|>").
	TokenID(token string) (int, bool)
}
