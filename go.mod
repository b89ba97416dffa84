module github.com/llada-go/llada

go 1.26.8

require (
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/yalue/onnxruntime_go v1.35.0 // indirect
)
