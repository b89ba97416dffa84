package llada

import "fmt"

var _ Vocabulary = (*HFTokenizer)(nil)

// TokenBytes returns the bytes id decodes to and whether it is a special added token. It needs a byte-level
// decoder (ByteLevel, alone or in a Sequence of ByteLevel decoders), under which decoding a sequence is the
// concatenation of its tokens' bytes read as UTF-8; other decoders (Metaspace, WordPiece) change a token's
// text with its neighbours, so they are an error. Ids no token has are reported as special.
func (t *HFTokenizer) TokenBytes(id int) ([]byte, bool, error) {
	if !t.byteLevel() {
		return nil, false, fmt.Errorf("tokenizer: token bytes need a ByteLevel decoder")
	}
	if a, ok := t.addedByID[id]; ok {
		if a.Special {
			return nil, true, nil
		}
		return tokenStringBytes(a.Content), false, nil
	}
	if id < 0 || id >= len(t.idToTok) || t.idToTok[id] == "" {
		return nil, true, nil // a hole in the id space: Decode rejects it, so a constraint must never allow it
	}
	return tokenStringBytes(t.idToTok[id]), false, nil
}

func (t *HFTokenizer) byteLevel() bool {
	switch d := t.decoder.(type) {
	case byteLevelDecoder:
		return true
	case decoderSeq:
		for _, x := range d {
			if _, ok := x.(byteLevelDecoder); !ok {
				return false
			}
		}
		return len(d) > 0
	}
	return false
}

// tokenStringBytes maps a byte-level token string to its bytes the way byteLevelDecode does: a token with a
// rune outside the byte alphabet stands for its own UTF-8 bytes.
func tokenStringBytes(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, in := runeToByte[r]
		if !in {
			return []byte(s)
		}
		out = append(out, b)
	}
	return out
}
