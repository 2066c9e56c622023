package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestHalfMatchesExactConversion(t *testing.T) {
	// Every half value converts to float32 and back unchanged.
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := Float32ToHalf(f); got != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, got)
		}
	}
	// Random floats round to the nearest half.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		f := float32(r.NormFloat64() * 100)
		h := HalfToFloat32(Float32ToHalf(f))
		up := HalfToFloat32(Float32ToHalf(f) + 1)
		down := HalfToFloat32(Float32ToHalf(f) - 1)
		d := math.Abs(float64(h - f))
		if d > math.Abs(float64(up-f)) || d > math.Abs(float64(down-f)) {
			t.Fatalf("%v rounded to %v, neighbours %v %v are closer", f, h, down, up)
		}
	}
}

func TestHalfKnownValues(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00}, {0x1p-24, 0x0001}, {0x1p-14, 0x0400}, {0, 0}, {float32(math.Copysign(0, -1)), 0x8000},
	} {
		if got := Float32ToHalf(c.f); got != c.h {
			t.Errorf("Float32ToHalf(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
		if got := HalfToFloat32(c.h); got != c.f || math.Signbit(float64(got)) != math.Signbit(float64(c.f)) {
			t.Errorf("HalfToFloat32(%#04x) = %v, want %v", c.h, got, c.f)
		}
	}
	// Rounding: 65520 is halfway between 65504 and the first overflow and
	// rounds to even (infinity); 1+2^-11 is halfway between 1 and the next
	// half and rounds to even (1); anything below 2^-25 flushes to zero.
	for _, c := range []struct {
		f float32
		h uint16
	}{{65520, 0x7c00}, {1 + 0x1p-11, 0x3c00}, {1 + 0x1p-11 + 0x1p-20, 0x3c01}, {0x1p-26, 0}, {0x1p-25 * 1.5, 0x0001}} {
		if got := Float32ToHalf(c.f); got != c.h {
			t.Errorf("Float32ToHalf(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := Float32ToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN converted to %#04x, not a half NaN", h)
	}
}
