package serve_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/serve"
)

// A Go service mounts the server as an http.Handler; here under /llm/ of its own mux.
func ExampleNew() {
	model, err := llada.Open("../testdata/tiny")
	if err != nil {
		panic(err)
	}
	defer model.Close()
	srv, err := serve.New(model, serve.WithAPIKey("secret"), serve.WithModelName("tiny"))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/llm/", http.StripPrefix("/llm", srv))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/llm/v1/completions",
		strings.NewReader(`{"model": "tiny", "prompt": "w2 w3", "max_tokens": 4}`))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.Contains(string(body), `"object":"text_completion"`))
	// Output: 200 true
}
