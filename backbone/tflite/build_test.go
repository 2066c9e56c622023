package tflite

import (
	"encoding/binary"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"
)

// Test-only flatbuffer writer: enough of schema.fbs to build small models
// with flatbuffers.Builder, independent of the reader under test.

type testTensor struct {
	name  string
	shape []int32
	typ   TensorType
	data  []byte
	scale []float32
	zp    []int64
	qdim  int32
}

type testOp struct {
	code    BuiltinOp
	in, out []int32
	optType uint8
	opt     func(b *flatbuffers.Builder) flatbuffers.UOffsetT
}

func int32Vec(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

func tableVec(b *flatbuffers.Builder, v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependUOffsetT(v[i])
	}
	return b.EndVector(len(v))
}

func buildModel(tensors []testTensor, ops []testOp, inputs, outputs []int32) []byte {
	b := flatbuffers.NewBuilder(1024)
	// Buffers: 0 is the empty sentinel, then one per constant tensor.
	var bufs []flatbuffers.UOffsetT
	b.StartObject(3)
	bufs = append(bufs, b.EndObject())
	bufIdx := make([]uint32, len(tensors))
	for i, t := range tensors {
		if t.data == nil {
			continue
		}
		d := b.CreateByteVector(t.data)
		b.StartObject(3)
		b.PrependUOffsetTSlot(0, d, 0)
		bufs = append(bufs, b.EndObject())
		bufIdx[i] = uint32(len(bufs) - 1)
	}
	var tens []flatbuffers.UOffsetT
	for i, t := range tensors {
		name := b.CreateString(t.name)
		shape := int32Vec(b, t.shape)
		var q flatbuffers.UOffsetT
		if t.scale != nil {
			b.StartVector(4, len(t.scale), 4)
			for k := len(t.scale) - 1; k >= 0; k-- {
				b.PrependFloat32(t.scale[k])
			}
			sv := b.EndVector(len(t.scale))
			b.StartVector(8, len(t.zp), 8)
			for k := len(t.zp) - 1; k >= 0; k-- {
				b.PrependInt64(t.zp[k])
			}
			zv := b.EndVector(len(t.zp))
			b.StartObject(7)
			b.PrependUOffsetTSlot(2, sv, 0)
			b.PrependUOffsetTSlot(3, zv, 0)
			b.PrependInt32Slot(6, t.qdim, 0)
			q = b.EndObject()
		}
		b.StartObject(5)
		b.PrependUOffsetTSlot(0, shape, 0)
		b.PrependInt8Slot(1, int8(t.typ), 0)
		b.PrependUint32Slot(2, bufIdx[i], 0)
		b.PrependUOffsetTSlot(3, name, 0)
		if q != 0 {
			b.PrependUOffsetTSlot(4, q, 0)
		}
		tens = append(tens, b.EndObject())
	}
	// Operator codes: one per distinct builtin, written the new way
	// (builtin_code) with the deprecated byte kept in sync as converters do.
	codeIdx := map[BuiltinOp]uint32{}
	var codes []flatbuffers.UOffsetT
	for _, op := range ops {
		if _, ok := codeIdx[op.code]; ok {
			continue
		}
		b.StartObject(4)
		b.PrependInt8Slot(0, int8(min(op.code, 127)), 0)
		b.PrependInt32Slot(2, 1, 1)
		b.PrependInt32Slot(3, int32(op.code), 0)
		codes = append(codes, b.EndObject())
		codeIdx[op.code] = uint32(len(codes) - 1)
	}
	var opOffs []flatbuffers.UOffsetT
	for _, op := range ops {
		in, out := int32Vec(b, op.in), int32Vec(b, op.out)
		var opt flatbuffers.UOffsetT
		if op.opt != nil {
			opt = op.opt(b)
		}
		b.StartObject(5)
		b.PrependUint32Slot(0, codeIdx[op.code], 0)
		b.PrependUOffsetTSlot(1, in, 0)
		b.PrependUOffsetTSlot(2, out, 0)
		if opt != 0 {
			b.PrependByteSlot(3, op.optType, 0)
			b.PrependUOffsetTSlot(4, opt, 0)
		}
		opOffs = append(opOffs, b.EndObject())
	}
	tv, iv, ov, opv := tableVec(b, tens), int32Vec(b, inputs), int32Vec(b, outputs), tableVec(b, opOffs)
	sgName := b.CreateString("main")
	b.StartObject(5)
	b.PrependUOffsetTSlot(0, tv, 0)
	b.PrependUOffsetTSlot(1, iv, 0)
	b.PrependUOffsetTSlot(2, ov, 0)
	b.PrependUOffsetTSlot(3, opv, 0)
	b.PrependUOffsetTSlot(4, sgName, 0)
	sg := b.EndObject()
	codesV, sgV, bufV := tableVec(b, codes), tableVec(b, []flatbuffers.UOffsetT{sg}), tableVec(b, bufs)
	desc := b.CreateString("vigil test model")
	b.StartObject(5)
	b.PrependUint32Slot(0, 3, 0)
	b.PrependUOffsetTSlot(1, codesV, 0)
	b.PrependUOffsetTSlot(2, sgV, 0)
	b.PrependUOffsetTSlot(3, desc, 0)
	b.PrependUOffsetTSlot(4, bufV, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte("TFL3"))
	return b.FinishedBytes()
}

func convOpts(pad Padding, sw, sh int32, act Activation) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartObject(6)
		b.PrependByteSlot(0, byte(pad), 0)
		b.PrependInt32Slot(1, sw, 0)
		b.PrependInt32Slot(2, sh, 0)
		b.PrependByteSlot(3, byte(act), 0)
		return b.EndObject() // dilations left at their default 1
	}
}

func dwOpts(pad Padding, sw, sh, mult int32, act Activation) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartObject(7)
		b.PrependByteSlot(0, byte(pad), 0)
		b.PrependInt32Slot(1, sw, 0)
		b.PrependInt32Slot(2, sh, 0)
		b.PrependInt32Slot(3, mult, 0)
		b.PrependByteSlot(4, byte(act), 0)
		return b.EndObject()
	}
}

func poolOpts(pad Padding, sw, sh, fw, fh int32) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartObject(6)
		b.PrependByteSlot(0, byte(pad), 0)
		b.PrependInt32Slot(1, sw, 0)
		b.PrependInt32Slot(2, sh, 0)
		b.PrependInt32Slot(3, fw, 0)
		b.PrependInt32Slot(4, fh, 0)
		return b.EndObject()
	}
}

func addOpts(act Activation) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartObject(2)
		b.PrependByteSlot(0, byte(act), 0)
		return b.EndObject()
	}
}

func reshapeOpts(shape []int32) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		v := int32Vec(b, shape)
		b.StartObject(1)
		b.PrependUOffsetTSlot(0, v, 0)
		return b.EndObject()
	}
}

func softmaxOpts(beta float32) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartObject(1)
		b.PrependFloat32Slot(0, beta, 0)
		return b.EndObject()
	}
}

func int32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

func float32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}
