module github.com/llada-go/llada/models

go 1.24.4

require (
	github.com/llada-go/llada v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/daulet/tokenizers v1.24.0 // indirect
	github.com/dlclark/regexp2 v1.11.5 // indirect
	github.com/yalue/onnxruntime_go v1.35.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/text v0.28.0 // indirect
)

// In this repository the models build against the library beside them; a release tags both modules.
replace github.com/llada-go/llada => ../
