module github.com/llada-go/llada

go 1.26.8

require (
	github.com/dlclark/regexp2 v1.11.5
	github.com/stretchr/testify v1.12.1
	github.com/yalue/onnxruntime_go v1.35.0
	golang.org/x/text v0.23.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
