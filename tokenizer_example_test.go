package llada_test

import (
	"fmt"
	"log"

	"github.com/llada-go/llada"
)

func ExampleLoadTokenizer() {
	tok, err := llada.LoadTokenizer("testdata/tokenizers/bpe-llama3.json")
	if err != nil {
		log.Fatal(err)
	}
	ids, err := tok.Encode("Hello world<|eot_id|>", true)
	if err != nil {
		log.Fatal(err)
	}
	bos, _ := tok.TokenID("<|begin_of_text|>")
	fmt.Println(ids[0] == bos)
	text, _ := tok.Decode(ids, true)
	fmt.Printf("%q\n", text)
	// Output:
	// true
	// "Hello world"
}
