package chat_test

import (
	"fmt"
	"log"

	"github.com/llada-go/llada/chat"
)

func ExampleRender() {
	const tpl = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
		"{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	s, err := chat.Render(tpl, []chat.Message{{Role: "user", Content: "Hi"}}, true, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", s)
	// Output:
	// "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
}
