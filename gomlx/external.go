package gomlx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/onnx-gomlx/onnx"
)

// ONNX keeps models above protobuf's 2 GB limit (LLaDA-8B: 32 GB in float32) with their weights in external
// files next to model.onnx: each initializer then carries external_data entries location/offset/length
// instead of raw_data (ONNX IR spec, "External Tensor Data"). onnx-gomlx v0.3.4 rejects such tensors, so
// loadExternalData reads them into raw_data first. It runs after the graph rewrite, which re-serializes the
// proto and must stay under 2 GB itself.

// hasExternalData reports whether any initializer keeps its data outside the model file.
func hasExternalData(m *onnx.Model) bool {
	for _, t := range m.Proto.Graph.Initializer {
		if len(t.ExternalData) > 0 {
			return true
		}
	}
	return false
}

// loadExternalData reads every external initializer from its file under dir.
func loadExternalData(m *onnx.Model, dir string) error {
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for _, t := range m.Proto.Graph.Initializer {
		if len(t.ExternalData) == 0 {
			continue
		}
		var location string
		offset, length := int64(0), int64(-1)
		for _, kv := range t.ExternalData {
			var err error
			switch kv.Key {
			case "location":
				location = kv.Value
			case "offset":
				offset, err = strconv.ParseInt(kv.Value, 10, 64)
			case "length":
				length, err = strconv.ParseInt(kv.Value, 10, 64)
			}
			if err != nil || offset < 0 || length < -1 {
				return fmt.Errorf("initializer %q: external_data %s = %q is not a valid size", t.Name, kv.Key, kv.Value)
			}
		}
		if location == "" || filepath.IsAbs(location) || strings.HasPrefix(filepath.Clean(location), "..") {
			return fmt.Errorf("initializer %q: external data location %q must be a file beside the model", t.Name, location)
		}
		f := files[location]
		if f == nil {
			var err error
			if f, err = os.Open(filepath.Join(dir, location)); err != nil {
				return fmt.Errorf("initializer %q: %w", t.Name, err)
			}
			files[location] = f
		}
		if length < 0 {
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("initializer %q: %w", t.Name, err)
			}
			length = st.Size() - offset
		}
		if length < 0 {
			return fmt.Errorf("initializer %q: offset %d is past the end of %s", t.Name, offset, location)
		}
		data := make([]byte, length)
		if _, err := f.ReadAt(data, offset); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%s holds fewer than offset %d + length %d bytes", location, offset, length)
			}
			return fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		t.RawData, t.ExternalData, t.DataLocation = data, nil, 0
	}
	return nil
}
