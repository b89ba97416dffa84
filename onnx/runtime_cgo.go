//go:build cgo

package onnx

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// The ONNX Runtime environment is process-global in onnxruntime_go (one dlopen, one OrtEnv). We initialise it
// once, on first use, and keep it for the life of the process: tearing it down dlcloses the library, and
// reloading ONNX Runtime in the same process is not something the runtime supports reliably.
var env struct {
	mu       sync.Mutex
	path     string // as resolved by LibraryPath, for messages
	realPath string // symlinks resolved, for comparison
	ready    bool
}

// LoadedLibrary reports the library the process has loaded, or "" before the first Open.
func LoadedLibrary() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.path
}

func ensureEnvironment(explicit string) (string, error) {
	path, err := LibraryPath(explicit)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.ready {
		if real != env.realPath {
			return "", fmt.Errorf("onnx: ONNX Runtime is already loaded from %q in this process; cannot also load %q "+
				"(one library per process: use the same path for every session)", env.path, path)
		}
		return env.path, nil
	}
	if ort.IsInitialized() {
		// Someone else in this process initialised onnxruntime_go; share their environment.
		env.path, env.realPath, env.ready = "(initialised outside package onnx)", real, true
		return env.path, nil
	}
	ort.SetSharedLibraryPath(path)
	// Fatal only: every error ONNX Runtime hits is returned to our caller, so letting it also log to stderr
	// would print each failure twice (and scribble over the CLI's live canvas).
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return "", fmt.Errorf("onnx: loading ONNX Runtime from %q: %w (is it ONNX Runtime %s built for this "+
			"platform? %s)", path, err, RuntimeVersion, installHint)
	}
	env.path, env.realPath, env.ready = path, real, true
	return path, nil
}

func infoFromORT(io ort.InputOutputInfo) TensorInfo {
	t := TensorInfo{Name: io.Name}
	if io.OrtValueType != ort.ONNXTypeTensor {
		t.ElementType = strings.ToLower(strings.TrimPrefix(io.OrtValueType.String(), "ONNX_TYPE_"))
		return t
	}
	t.ElementType = elementTypeName(io.DataType)
	t.Shape = append([]int64(nil), io.Dimensions...)
	for i, d := range t.Shape {
		if d < 0 {
			t.Shape[i] = -1
		}
	}
	return t
}

func elementTypeName(d ort.TensorElementDataType) string {
	switch d {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeBFloat16:
		return "bfloat16"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeInt16:
		return "int16"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeUint16:
		return "uint16"
	case ort.TensorElementDataTypeUint32:
		return "uint32"
	case ort.TensorElementDataTypeUint64:
		return "uint64"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return strings.ToLower(strings.TrimPrefix(d.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}
