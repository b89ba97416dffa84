package onnx

import (
	"errors"
	"fmt"
	"io"
)

// readGraphSignature reads the graph inputs and outputs of an ONNX ModelProto without loading the model.
//
// Why: onnxruntime_go cannot list the inputs of a session it has created, and its GetInputOutputInfo builds a
// whole session (weights included) to answer; for an 8B model that is a second full load. The signature is
// a few hundred bytes of protobuf, so we read it from the wire format directly, seeking past the weights
// (initializer payloads) instead of reading them. Field numbers follow onnx/onnx.proto (ModelProto.graph=7;
// GraphProto.initializer=5, input=11, output=12; ValueInfoProto.name=1, type=2; TypeProto.tensor_type=1;
// TypeProto.Tensor.elem_type=1, shape=2; TensorShapeProto.dim=1; Dimension.dim_value=1, dim_param=2;
// TensorProto.name=8).
//
// Graph inputs that are also initializers are left out, as ONNX Runtime leaves them out of a session's inputs
// (they have defaults and need not be fed).
func readGraphSignature(r io.ReaderAt, size int64) (inputs, outputs []TensorInfo, err error) {
	p := &pbReader{r: r}
	var graph *pbField
	err = p.fields(0, size, func(f pbField) error {
		if f.num == 7 && f.wire == 2 {
			g := f
			graph = &g
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if graph == nil {
		return nil, nil, errors.New("no graph in the ModelProto")
	}
	initializers := map[string]bool{}
	var ins []TensorInfo
	err = p.fields(graph.off, graph.end, func(f pbField) error {
		if f.wire != 2 {
			return nil
		}
		switch f.num {
		case 5:
			name, err := p.tensorName(f)
			if err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
			initializers[name] = true
		case 11, 12:
			t, err := p.valueInfo(f)
			if err != nil {
				return err
			}
			if f.num == 11 {
				ins = append(ins, t)
			} else {
				outputs = append(outputs, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ins {
		if !initializers[t.Name] {
			inputs = append(inputs, t)
		}
	}
	return inputs, outputs, nil
}

// pbField is one protobuf field: for wire type 2 its payload spans [off, end); for varints val holds it.
type pbField struct {
	num      int
	wire     int
	val      uint64
	off, end int64
}

type pbReader struct {
	r   io.ReaderAt
	buf [10]byte
}

// varint reads a base-128 varint at off and returns it and the offset after it.
func (p *pbReader) varint(off, end int64) (uint64, int64, error) {
	n := min(int64(len(p.buf)), end-off)
	if n <= 0 {
		return 0, 0, io.ErrUnexpectedEOF
	}
	got, err := p.r.ReadAt(p.buf[:n], off)
	if got == 0 && err != nil {
		return 0, 0, err
	}
	var v uint64
	for i := 0; i < got; i++ {
		b := p.buf[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, off + int64(i) + 1, nil
		}
	}
	return 0, 0, errors.New("malformed varint")
}

// fields calls f for each field of the message spanning [off, end).
func (p *pbReader) fields(off, end int64, f func(pbField) error) error {
	for off < end {
		key, next, err := p.varint(off, end)
		if err != nil {
			return fmt.Errorf("field key at byte %d: %w", off, err)
		}
		fl := pbField{num: int(key >> 3), wire: int(key & 7)}
		if fl.num == 0 {
			return fmt.Errorf("field number 0 at byte %d", off)
		}
		switch fl.wire {
		case 0:
			if fl.val, next, err = p.varint(next, end); err != nil {
				return fmt.Errorf("field %d at byte %d: %w", fl.num, off, err)
			}
		case 1:
			next += 8
		case 5:
			next += 4
		case 2:
			n, start, err := p.varint(next, end)
			if err != nil {
				return fmt.Errorf("field %d at byte %d: length: %w", fl.num, off, err)
			}
			if n > uint64(end-start) {
				return fmt.Errorf("field %d at byte %d: length %d runs past the end (%d bytes left)", fl.num, off, n, end-start)
			}
			fl.off, fl.end = start, start+int64(n)
			next = fl.end
		default:
			return fmt.Errorf("field %d at byte %d: unsupported wire type %d", fl.num, off, fl.wire)
		}
		if next > end {
			return fmt.Errorf("field %d at byte %d runs past the end", fl.num, off)
		}
		if err := f(fl); err != nil {
			return err
		}
		off = next
	}
	return nil
}

func (p *pbReader) str(f pbField) (string, error) {
	if f.end-f.off > 1<<20 {
		return "", fmt.Errorf("string of %d bytes", f.end-f.off)
	}
	b := make([]byte, f.end-f.off)
	if _, err := p.r.ReadAt(b, f.off); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return "", err
	}
	return string(b), nil
}

// tensorName reads TensorProto.name (field 8), seeking past the payload fields.
func (p *pbReader) tensorName(t pbField) (string, error) {
	var name string
	err := p.fields(t.off, t.end, func(f pbField) error {
		if f.num == 8 && f.wire == 2 {
			var err error
			name, err = p.str(f)
			return err
		}
		return nil
	})
	return name, err
}

// valueInfo reads a ValueInfoProto into the TensorInfo ONNX Runtime would report for it.
func (p *pbReader) valueInfo(v pbField) (TensorInfo, error) {
	var t TensorInfo
	err := p.fields(v.off, v.end, func(f pbField) error {
		if f.wire != 2 {
			return nil
		}
		switch f.num {
		case 1:
			var err error
			t.Name, err = p.str(f)
			return err
		case 2:
			return p.fields(f.off, f.end, func(k pbField) error {
				switch {
				case k.num == 1 && k.wire == 2:
					return p.tensorType(k, &t)
				case k.wire == 2:
					t.ElementType = typeKinds[k.num]
					if t.ElementType == "" {
						t.ElementType = fmt.Sprintf("type %d", k.num)
					}
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("value info %q: %w", t.Name, err)
	}
	return t, nil
}

// typeKinds names the TypeProto value cases other than tensors, as ONNX Runtime's ONNXType names them.
var typeKinds = map[int]string{4: "sequence", 5: "map", 8: "sparsetensor", 9: "optional"}

func (p *pbReader) tensorType(tt pbField, t *TensorInfo) error {
	t.ElementType = "undefined"
	return p.fields(tt.off, tt.end, func(f pbField) error {
		switch {
		case f.num == 1 && f.wire == 0:
			t.ElementType = elementNames[f.val]
			if t.ElementType == "" {
				t.ElementType = fmt.Sprintf("element type %d", f.val)
			}
		case f.num == 2 && f.wire == 2:
			return p.fields(f.off, f.end, func(d pbField) error {
				if d.num != 1 || d.wire != 2 {
					return nil
				}
				dim := int64(-1)
				err := p.fields(d.off, d.end, func(v pbField) error {
					if v.num == 1 && v.wire == 0 {
						dim = int64(v.val)
					}
					return nil
				})
				t.Shape = append(t.Shape, dim)
				return err
			})
		}
		return nil
	})
}

// elementNames maps TensorProto.DataType to the short names elementTypeName gives ONNX Runtime's types.
var elementNames = map[uint64]string{1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
	7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
	14: "complex64", 15: "complex128", 16: "bfloat16"}
