package onnx

import "errors"

// ErrClosed is wrapped by the error of a Forward on a closed Session.
var ErrClosed = errors.New("session is closed")
