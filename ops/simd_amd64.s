//go:build amd64 && !purego

#include "textflag.h"

// func dw3x16(out, r0, r1, r2 *float32, n int, w *float32, bv, lo, hi float32)
// Sixteen outputs per iteration in four independent FMA chains (two per
// 8-wide block: row 0 and 2 taps, row 1 taps) to hide FMA latency, then a
// clamp to [lo,hi] that lets NaN through (the accumulator is the second
// source of VMAXPS/VMINPS).
TEXT ·dw3x16(SB), NOSPLIT, $0-60
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R8
	MOVQ r2+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ w+40(FP), AX
	VBROADCASTSS bv+48(FP), Y15
	VBROADCASTSS lo+52(FP), Y13
	VBROADCASTSS hi+56(FP), Y14
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	MOVQ CX, BX
	SHRQ $4, CX
	JZ tail8

loop:
	VMOVAPS Y15, Y9
	VMULPS 0(R8), Y3, Y10
	VMOVAPS Y15, Y11
	VMULPS 32(R8), Y3, Y12
	VFMADD231PS 0(SI), Y0, Y9
	VFMADD231PS 4(R8), Y4, Y10
	VFMADD231PS 32(SI), Y0, Y11
	VFMADD231PS 36(R8), Y4, Y12
	VFMADD231PS 4(SI), Y1, Y9
	VFMADD231PS 8(R8), Y5, Y10
	VFMADD231PS 36(SI), Y1, Y11
	VFMADD231PS 40(R8), Y5, Y12
	VFMADD231PS 8(SI), Y2, Y9
	VFMADD231PS 0(R9), Y6, Y10
	VFMADD231PS 40(SI), Y2, Y11
	VFMADD231PS 32(R9), Y6, Y12
	VFMADD231PS 4(R9), Y7, Y9
	VFMADD231PS 8(R9), Y8, Y10
	VFMADD231PS 36(R9), Y7, Y11
	VFMADD231PS 40(R9), Y8, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMAXPS Y9, Y13, Y9
	VMAXPS Y11, Y13, Y11
	VMINPS Y9, Y14, Y9
	VMINPS Y11, Y14, Y11
	VMOVUPS Y9, 0(DI)
	VMOVUPS Y11, 32(DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	DECQ CX
	JNZ loop

tail8:
	TESTQ $8, BX
	JZ done
	VMOVAPS Y15, Y9
	VMULPS 0(R8), Y3, Y10
	VFMADD231PS 0(SI), Y0, Y9
	VFMADD231PS 4(R8), Y4, Y10
	VFMADD231PS 4(SI), Y1, Y9
	VFMADD231PS 8(R8), Y5, Y10
	VFMADD231PS 8(SI), Y2, Y9
	VFMADD231PS 0(R9), Y6, Y10
	VFMADD231PS 4(R9), Y7, Y9
	VFMADD231PS 8(R9), Y8, Y10
	VADDPS Y10, Y9, Y9
	VMAXPS Y9, Y13, Y9
	VMINPS Y9, Y14, Y9
	VMOVUPS Y9, 0(DI)

done:
	VZEROUPPER
	RET

// func addClamp8(x *float32, n int, b, lo, hi float32)
// x[i] = clamp(x[i]+b, lo, hi) for n a multiple of 8; NaN passes through.
TEXT ·addClamp8(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS b+16(FP), Y0
	VBROADCASTSS lo+20(FP), Y1
	VBROADCASTSS hi+24(FP), Y2
	SHRQ $3, CX
	JZ acdone

acloop:
	VADDPS 0(DI), Y0, Y3
	VMAXPS Y3, Y1, Y3
	VMINPS Y3, Y2, Y3
	VMOVUPS Y3, 0(DI)
	ADDQ $32, DI
	DECQ CX
	JNZ acloop

acdone:
	VZEROUPPER
	RET

// func dw3s2x16(out, e0, o0, e1, o1, e2, o2 *float32, n int, w *float32, bv, lo, hi float32)
// Stride-2 3×3 depthwise on rows split into even (e) and odd (o) columns:
// out[i] = clamp(bv + Σ_r w[3r]·e_r[i] + w[3r+1]·o_r[i] + w[3r+2]·e_r[i+1], lo, hi).
TEXT ·dw3s2x16(SB), NOSPLIT, $0-84
	MOVQ out+0(FP), DI
	MOVQ e0+8(FP), SI
	MOVQ o0+16(FP), R8
	MOVQ e1+24(FP), R9
	MOVQ o1+32(FP), R10
	MOVQ e2+40(FP), R11
	MOVQ o2+48(FP), R12
	MOVQ n+56(FP), CX
	MOVQ w+64(FP), AX
	VBROADCASTSS bv+72(FP), Y15
	VBROADCASTSS lo+76(FP), Y13
	VBROADCASTSS hi+80(FP), Y14
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	MOVQ CX, BX
	SHRQ $4, CX
	JZ s2tail8

s2loop:
	VMOVAPS Y15, Y9
	VMULPS 0(R9), Y3, Y10
	VMOVAPS Y15, Y11
	VMULPS 32(R9), Y3, Y12
	VFMADD231PS 0(SI), Y0, Y9
	VFMADD231PS 0(R10), Y4, Y10
	VFMADD231PS 32(SI), Y0, Y11
	VFMADD231PS 32(R10), Y4, Y12
	VFMADD231PS 0(R8), Y1, Y9
	VFMADD231PS 4(R9), Y5, Y10
	VFMADD231PS 32(R8), Y1, Y11
	VFMADD231PS 36(R9), Y5, Y12
	VFMADD231PS 4(SI), Y2, Y9
	VFMADD231PS 0(R11), Y6, Y10
	VFMADD231PS 36(SI), Y2, Y11
	VFMADD231PS 32(R11), Y6, Y12
	VFMADD231PS 0(R12), Y7, Y9
	VFMADD231PS 4(R11), Y8, Y10
	VFMADD231PS 32(R12), Y7, Y11
	VFMADD231PS 36(R11), Y8, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMAXPS Y9, Y13, Y9
	VMAXPS Y11, Y13, Y11
	VMINPS Y9, Y14, Y9
	VMINPS Y11, Y14, Y11
	VMOVUPS Y9, 0(DI)
	VMOVUPS Y11, 32(DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, DI
	DECQ CX
	JNZ s2loop

s2tail8:
	TESTQ $8, BX
	JZ s2done
	VMOVAPS Y15, Y9
	VMULPS 0(R9), Y3, Y10
	VFMADD231PS 0(SI), Y0, Y9
	VFMADD231PS 0(R10), Y4, Y10
	VFMADD231PS 0(R8), Y1, Y9
	VFMADD231PS 4(R9), Y5, Y10
	VFMADD231PS 4(SI), Y2, Y9
	VFMADD231PS 0(R11), Y6, Y10
	VFMADD231PS 0(R12), Y7, Y9
	VFMADD231PS 4(R11), Y8, Y10
	VADDPS Y10, Y9, Y9
	VMAXPS Y9, Y13, Y9
	VMINPS Y9, Y14, Y9
	VMOVUPS Y9, 0(DI)

s2done:
	VZEROUPPER
	RET

// func splitEO8(src, e, o *float32, n int)
// e[i] = src[2i], o[i] = src[2i+1] for i < n (a multiple of 8).
TEXT ·splitEO8(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ e+8(FP), DI
	MOVQ o+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ sedone

seloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, 0(DI)
	VMOVUPS Y3, 0(DX)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ seloop

sedone:
	VZEROUPPER
	RET

// func winoIn8(e0, o0, e1, o1, e2, o2, e3, o3, v *float32, stride, n int)
// Winograd F(2×2,3×3) input transform of n tiles (a multiple of 8) from
// four even/odd split rows: tile i reads e_r[i], o_r[i], e_r[i+1],
// o_r[i+1]; component k of tile i goes to v[k*stride+i].
TEXT ·winoIn8(SB), NOSPLIT, $0-88
	MOVQ e0+0(FP), AX
	MOVQ o0+8(FP), BX
	MOVQ e1+16(FP), SI
	MOVQ o1+24(FP), R8
	MOVQ e2+32(FP), R9
	MOVQ o2+40(FP), R10
	MOVQ e3+48(FP), R11
	MOVQ o3+56(FP), R12
	MOVQ v+64(FP), DI
	MOVQ stride+72(FP), DX
	SHLQ $2, DX
	MOVQ n+80(FP), CX
	SHRQ $3, CX
	JZ widone

wiloop:
	// column combination 0
	VMOVUPS (AX), Y0
	VSUBPS 4(AX), Y0, Y0
	VMOVUPS (SI), Y1
	VSUBPS 4(SI), Y1, Y1
	VMOVUPS (R9), Y2
	VSUBPS 4(R9), Y2, Y2
	VMOVUPS (R11), Y3
	VSUBPS 4(R11), Y3, Y3
	VSUBPS Y2, Y0, Y4
	VADDPS Y2, Y1, Y5
	VSUBPS Y1, Y2, Y6
	VSUBPS Y3, Y1, Y7
	MOVQ DI, R13
	LEAQ (R13)(DX*8), R14
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, (R13)(DX*4)
	VMOVUPS Y6, (R14)
	VMOVUPS Y7, (R14)(DX*4)
	// column combination 1
	VMOVUPS (BX), Y0
	VADDPS 4(AX), Y0, Y0
	VMOVUPS (R8), Y1
	VADDPS 4(SI), Y1, Y1
	VMOVUPS (R10), Y2
	VADDPS 4(R9), Y2, Y2
	VMOVUPS (R12), Y3
	VADDPS 4(R11), Y3, Y3
	VSUBPS Y2, Y0, Y4
	VADDPS Y2, Y1, Y5
	VSUBPS Y1, Y2, Y6
	VSUBPS Y3, Y1, Y7
	ADDQ DX, R13
	LEAQ (R13)(DX*8), R14
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, (R13)(DX*4)
	VMOVUPS Y6, (R14)
	VMOVUPS Y7, (R14)(DX*4)
	// column combination 2
	VMOVUPS 4(AX), Y0
	VSUBPS (BX), Y0, Y0
	VMOVUPS 4(SI), Y1
	VSUBPS (R8), Y1, Y1
	VMOVUPS 4(R9), Y2
	VSUBPS (R10), Y2, Y2
	VMOVUPS 4(R11), Y3
	VSUBPS (R12), Y3, Y3
	VSUBPS Y2, Y0, Y4
	VADDPS Y2, Y1, Y5
	VSUBPS Y1, Y2, Y6
	VSUBPS Y3, Y1, Y7
	ADDQ DX, R13
	LEAQ (R13)(DX*8), R14
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, (R13)(DX*4)
	VMOVUPS Y6, (R14)
	VMOVUPS Y7, (R14)(DX*4)
	// column combination 3
	VMOVUPS (BX), Y0
	VSUBPS 4(BX), Y0, Y0
	VMOVUPS (R8), Y1
	VSUBPS 4(R8), Y1, Y1
	VMOVUPS (R10), Y2
	VSUBPS 4(R10), Y2, Y2
	VMOVUPS (R12), Y3
	VSUBPS 4(R12), Y3, Y3
	VSUBPS Y2, Y0, Y4
	VADDPS Y2, Y1, Y5
	VSUBPS Y1, Y2, Y6
	VSUBPS Y3, Y1, Y7
	ADDQ DX, R13
	LEAQ (R13)(DX*8), R14
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, (R13)(DX*4)
	VMOVUPS Y6, (R14)
	VMOVUPS Y7, (R14)(DX*4)
	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, DI
	DECQ CX
	JNZ wiloop

widone:
	VZEROUPPER
	RET

// func winoOut8(m *float32, stride, n int, out0, out1 *float32, bv, lo, hi float32)
// Winograd F(2×2,3×3) output transform of n tiles (a multiple of 8):
// component k of tile i is m[k*stride+i]; the 2×2 results, plus bv and
// clamped to [lo,hi], go to out0[2i..2i+1] and out1[2i..2i+1].
TEXT ·winoOut8(SB), NOSPLIT, $0-52
	MOVQ m+0(FP), SI
	MOVQ stride+8(FP), DX
	SHLQ $2, DX
	MOVQ n+16(FP), CX
	MOVQ out0+24(FP), DI
	MOVQ out1+32(FP), R8
	VBROADCASTSS bv+40(FP), Y12
	VBROADCASTSS lo+44(FP), Y13
	VBROADCASTSS hi+48(FP), Y14
	SHRQ $3, CX
	JZ wodone

woloop:
	MOVQ SI, R9
	LEAQ (R9)(DX*8), R10
	VMOVUPS (R9)(DX*4), Y8
	VMOVUPS (R10), Y9
	VADDPS (R9), Y8, Y0
	VADDPS Y9, Y0, Y0
	VSUBPS Y9, Y8, Y4
	VSUBPS (R10)(DX*4), Y4, Y4
	ADDQ DX, R9
	LEAQ (R9)(DX*8), R10
	VMOVUPS (R9)(DX*4), Y8
	VMOVUPS (R10), Y9
	VADDPS (R9), Y8, Y1
	VADDPS Y9, Y1, Y1
	VSUBPS Y9, Y8, Y5
	VSUBPS (R10)(DX*4), Y5, Y5
	ADDQ DX, R9
	LEAQ (R9)(DX*8), R10
	VMOVUPS (R9)(DX*4), Y8
	VMOVUPS (R10), Y9
	VADDPS (R9), Y8, Y2
	VADDPS Y9, Y2, Y2
	VSUBPS Y9, Y8, Y6
	VSUBPS (R10)(DX*4), Y6, Y6
	ADDQ DX, R9
	LEAQ (R9)(DX*8), R10
	VMOVUPS (R9)(DX*4), Y8
	VMOVUPS (R10), Y9
	VADDPS (R9), Y8, Y3
	VADDPS Y9, Y3, Y3
	VSUBPS Y9, Y8, Y7
	VSUBPS (R10)(DX*4), Y7, Y7
	VADDPS Y1, Y0, Y8
	VADDPS Y2, Y8, Y8
	VADDPS Y12, Y8, Y8
	VSUBPS Y2, Y1, Y9
	VSUBPS Y3, Y9, Y9
	VADDPS Y12, Y9, Y9
	VADDPS Y5, Y4, Y10
	VADDPS Y6, Y10, Y10
	VADDPS Y12, Y10, Y10
	VSUBPS Y6, Y5, Y11
	VSUBPS Y7, Y11, Y11
	VADDPS Y12, Y11, Y11
	VMAXPS Y8, Y13, Y8
	VMAXPS Y9, Y13, Y9
	VMAXPS Y10, Y13, Y10
	VMAXPS Y11, Y13, Y11
	VMINPS Y8, Y14, Y8
	VMINPS Y9, Y14, Y9
	VMINPS Y10, Y14, Y10
	VMINPS Y11, Y14, Y11
	VUNPCKLPS Y9, Y8, Y0
	VUNPCKHPS Y9, Y8, Y1
	VPERM2F128 $0x20, Y1, Y0, Y2
	VPERM2F128 $0x31, Y1, Y0, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	VUNPCKLPS Y11, Y10, Y0
	VUNPCKHPS Y11, Y10, Y1
	VPERM2F128 $0x20, Y1, Y0, Y2
	VPERM2F128 $0x31, Y1, Y0, Y3
	VMOVUPS Y2, (R8)
	VMOVUPS Y3, 32(R8)
	ADDQ $32, SI
	ADDQ $64, DI
	ADDQ $64, R8
	DECQ CX
	JNZ woloop

wodone:
	VZEROUPPER
	RET

// func mergeEO8(dst, e, o *float32, n int)
// dst[2i] = e[i], dst[2i+1] = o[i] for i < n (a multiple of 8).
TEXT ·mergeEO8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ o+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ medone

meloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 0(DX), Y1
	VUNPCKLPS Y1, Y0, Y2
	VUNPCKHPS Y1, Y0, Y3
	VPERM2F128 $0x20, Y3, Y2, Y4
	VPERM2F128 $0x31, Y3, Y2, Y5
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	ADDQ $64, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ meloop

medone:
	VZEROUPPER
	RET

// func maxInto8(dst, src *float32, n int)
// dst[i] = max(dst[i], src[i]) for i < n (a multiple of 8); a NaN in
// either operand gives NaN.
TEXT ·maxInto8(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ mxdone

mxloop:
	VMOVUPS 0(DI), Y0
	VMAXPS 0(SI), Y0, Y1
	VCMPPS $3, Y0, Y0, Y2
	VBLENDVPS Y2, Y0, Y1, Y1
	VMOVUPS Y1, 0(DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ mxloop

mxdone:
	VZEROUPPER
	RET

// func lerp8(dst, r0, r1 *float32, n int, a, b float32)
// dst[i] = a*r0[i] + b*r1[i] for i < n (a multiple of 8).
TEXT ·lerp8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS a+32(FP), Y0
	VBROADCASTSS b+36(FP), Y1
	SHRQ $3, CX
	JZ lpdone

lploop:
	VMULPS 0(SI), Y0, Y2
	VFMADD231PS 0(DX), Y1, Y2
	VMOVUPS Y2, 0(DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ lploop

lpdone:
	VZEROUPPER
	RET

// func addInto8(dst, src *float32, n int)
// dst[i] += src[i] for i < n (a multiple of 8).
TEXT ·addInto8(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ addone

adloop:
	VMOVUPS 0(DI), Y0
	VADDPS 0(SI), Y0, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ adloop

addone:
	VZEROUPPER
	RET

// func maxPool3s2x8(out, r0, r1, r2 *float32, n int)
// out[i] = max over rows r0..r2 and columns 2i..2i+2 for i < n (a multiple
// of 8); every row holds 2n+1 readable values; a NaN anywhere in a window
// gives NaN. Vertical maxima of the columns at offsets 0 and 1 give
// h[c] = max(col c, col c+1); out[j] = max(h[2j], h[2j+1]) via an even/odd
// shuffle, whose lane order one VPERMPD restores. NaN masks follow the
// same path and are OR-ed in at the end (all-ones is a NaN).
TEXT ·maxPool3s2x8(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ r2+24(FP), BX
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ mpdone

mploop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 0(DX), Y1
	VMOVUPS 0(BX), Y2
	VCMPPS $3, Y1, Y0, Y8
	VCMPPS $3, Y2, Y2, Y9
	VORPS Y9, Y8, Y8
	VMAXPS Y1, Y0, Y0
	VMAXPS Y2, Y0, Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 32(DX), Y2
	VMOVUPS 32(BX), Y3
	VCMPPS $3, Y2, Y1, Y9
	VCMPPS $3, Y3, Y3, Y10
	VORPS Y10, Y9, Y9
	VMAXPS Y2, Y1, Y1
	VMAXPS Y3, Y1, Y1
	VMOVUPS 4(SI), Y2
	VMOVUPS 4(DX), Y3
	VMOVUPS 4(BX), Y4
	VCMPPS $3, Y3, Y2, Y10
	VCMPPS $3, Y4, Y4, Y11
	VORPS Y11, Y10, Y10
	VMAXPS Y3, Y2, Y2
	VMAXPS Y4, Y2, Y2
	VMOVUPS 36(SI), Y3
	VMOVUPS 36(DX), Y4
	VMOVUPS 36(BX), Y5
	VCMPPS $3, Y4, Y3, Y11
	VCMPPS $3, Y5, Y5, Y12
	VORPS Y12, Y11, Y11
	VMAXPS Y4, Y3, Y3
	VMAXPS Y5, Y3, Y3
	VMAXPS Y2, Y0, Y0
	VORPS Y10, Y8, Y8
	VMAXPS Y3, Y1, Y1
	VORPS Y11, Y9, Y9
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VSHUFPS $0x88, Y9, Y8, Y4
	VSHUFPS $0xDD, Y9, Y8, Y5
	VMAXPS Y3, Y2, Y2
	VORPS Y5, Y4, Y4
	VORPS Y4, Y2, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, 0(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, BX
	ADDQ $32, DI
	DECQ CX
	JNZ mploop

mpdone:
	VZEROUPPER
	RET

// func addReLU8(dst, a, b *float32, n int)
// dst[i] = max(a[i]+b[i], 0) for i < n (a multiple of 8); NaN stays NaN
// (VMAXPS returns its second source, the sum, when either is NaN).
TEXT ·addReLU8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ ardone
	VXORPS Y15, Y15, Y15

arloop:
	VMOVUPS 0(SI), Y0
	VADDPS 0(DX), Y0, Y0
	VMAXPS Y0, Y15, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ arloop

ardone:
	VZEROUPPER
	RET

// func dot32(a, b *float32, n int) float32
// Σ a[i]·b[i] for i < n (a multiple of 32): four FMA accumulators of
// eight lanes, summed in a fixed order.
TEXT ·dot32(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ dtsum

dtloop:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS 0(DX), Y4, Y0
	VFMADD231PS 32(DX), Y5, Y1
	VFMADD231PS 64(DX), Y6, Y2
	VFMADD231PS 96(DX), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DX
	DECQ CX
	JNZ dtloop

dtsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func reluMask8(d, y *float32, n int)
// d[i] = 0 unless y[i], read as an int32, is positive (y > 0 or a
// positive NaN; ±0 and negatives clear d), for i < n (a multiple of 8).
TEXT ·reluMask8(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ rmdone
	VPXOR Y15, Y15, Y15

rmloop:
	VMOVDQU 0(SI), Y0
	VPCMPGTD Y15, Y0, Y0
	VPAND 0(DI), Y0, Y0
	VMOVDQU Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ rmloop

rmdone:
	VZEROUPPER
	RET

DATA sigc<>+0(SB)/4, $-87.0
DATA sigc<>+4(SB)/4, $88.0
DATA sigc<>+8(SB)/4, $1.44269504088896341
DATA sigc<>+12(SB)/4, $0.5
DATA sigc<>+16(SB)/4, $0.693145751953125
DATA sigc<>+20(SB)/4, $1.42860682030941723212e-6
DATA sigc<>+24(SB)/4, $1.0
DATA sigc<>+28(SB)/4, $0.16666666666666666
DATA sigc<>+32(SB)/4, $0.041666666666666664
DATA sigc<>+36(SB)/4, $0.008333333333333333
DATA sigc<>+40(SB)/4, $0.001388888888888889
DATA sigc<>+44(SB)/4, $127
GLOBL sigc<>(SB), RODATA|NOPTR, $48

// func sigmoid8(dst, x *float32, n int)
// dst[i] = 1/(1+e^(−x[i])) for i < n (a multiple of 8), e^t as nn's expf:
// t clamped to [−87, 88] (NaN passes), n = ⌊t·log2e + ½⌋, Cody–Waite
// r = t − n·ln2 in two parts, degree-6 Taylor polynomial (Horner), times
// 2ⁿ from exponent bits.
TEXT ·sigmoid8(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ sgdone
	VBROADCASTSS sigc<>+0(SB), Y4   // -87
	VBROADCASTSS sigc<>+4(SB), Y5   // 88
	VBROADCASTSS sigc<>+8(SB), Y6   // log2e
	VBROADCASTSS sigc<>+12(SB), Y7  // 1/2
	VBROADCASTSS sigc<>+16(SB), Y8  // ln2hi
	VBROADCASTSS sigc<>+20(SB), Y9  // ln2lo
	VBROADCASTSS sigc<>+24(SB), Y10 // 1
	VBROADCASTSS sigc<>+28(SB), Y11 // 1/6
	VBROADCASTSS sigc<>+32(SB), Y12 // 1/24
	VBROADCASTSS sigc<>+36(SB), Y13 // 1/120
	VBROADCASTSS sigc<>+40(SB), Y14 // 1/720
	VPBROADCASTD sigc<>+44(SB), Y15 // 127
	VXORPS Y3, Y3, Y3

sgloop:
	VSUBPS 0(SI), Y3, Y0   // t = -x
	VMAXPS Y0, Y4, Y0      // NaN (second source) passes
	VMINPS Y0, Y5, Y0
	VMOVAPS Y7, Y1
	VFMADD231PS Y6, Y0, Y1 // k = t·log2e + ½
	VROUNDPS $1, Y1, Y1    // floor
	VFNMADD231PS Y8, Y1, Y0 // r = t − n·ln2hi
	VFNMADD231PS Y9, Y1, Y0 // r −= n·ln2lo
	VMOVAPS Y14, Y2
	VFMADD213PS Y13, Y0, Y2 // p = r/720 + 1/120
	VFMADD213PS Y12, Y0, Y2 // p·r + 1/24
	VFMADD213PS Y11, Y0, Y2 // p·r + 1/6
	VFMADD213PS Y7, Y0, Y2  // p·r + 1/2
	VFMADD213PS Y10, Y0, Y2 // p·r + 1
	VFMADD213PS Y10, Y0, Y2 // p·r + 1
	VCVTPS2DQ Y1, Y1
	VPADDD Y15, Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y2      // e^t
	VADDPS Y10, Y2, Y2
	VDIVPS Y2, Y10, Y2     // 1/(1+e^t)
	VMOVUPS Y2, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ sgloop

sgdone:
	VZEROUPPER
	RET

// func sigmoidGrad8(d, y *float32, n int)
// d[i] *= y[i]·(1−y[i]) for i < n (a multiple of 8).
TEXT ·sigmoidGrad8(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ sgrdone
	VBROADCASTSS sigc<>+24(SB), Y15

sgrloop:
	VMOVUPS 0(SI), Y0
	VSUBPS Y0, Y15, Y1     // 1 − y
	VMULPS Y1, Y0, Y0
	VMULPS 0(DI), Y0, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ sgrloop

sgrdone:
	VZEROUPPER
	RET

// func winoGO8(r0, r1, d *float32, stride, n int)
// Winograd weight-gradient transform of n dY tiles (a multiple of 8) from
// rows r0, r1 (2n values each): with a, b = r0[2i], r0[2i+1] and c, e =
// r1[2i], r1[2i+1], component k of tile i goes to d[k*stride+i]:
// a, a+b, a−b, −b; s0, s0+s1, s0−s1, −s1 (s = a+c, b+e); d0, d0+d1, d0−d1,
// −d1 (d = a−c, b−e); −c, −c−e, e−c, e.
TEXT ·winoGO8(SB), NOSPLIT, $0-40
	MOVQ r0+0(FP), SI
	MOVQ r1+8(FP), DX
	MOVQ d+16(FP), DI
	MOVQ stride+24(FP), BX
	SHLQ $2, BX
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ wgdone
	VXORPS Y15, Y15, Y15

wgloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2 // a
	VPERMPD $0xD8, Y3, Y3 // b
	VMOVUPS 0(DX), Y0
	VMOVUPS 32(DX), Y1
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VPERMPD $0xD8, Y4, Y4 // c
	VPERMPD $0xD8, Y5, Y5 // e
	MOVQ DI, R8
	// row (a, b)
	VMOVUPS Y2, (R8)
	ADDQ BX, R8
	VADDPS Y3, Y2, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y3, Y2, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y3, Y15, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	// row (s0, s1) = (a+c, b+e)
	VADDPS Y4, Y2, Y7
	VADDPS Y5, Y3, Y8
	VMOVUPS Y7, (R8)
	ADDQ BX, R8
	VADDPS Y8, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y8, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y8, Y15, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	// row (d0, d1) = (a−c, b−e)
	VSUBPS Y4, Y2, Y7
	VSUBPS Y5, Y3, Y8
	VMOVUPS Y7, (R8)
	ADDQ BX, R8
	VADDPS Y8, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y8, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VSUBPS Y8, Y15, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	// row (−c, −e)
	VSUBPS Y4, Y15, Y7
	VMOVUPS Y7, (R8)
	ADDQ BX, R8
	VSUBPS Y5, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VADDPS Y5, Y7, Y6
	VMOVUPS Y6, (R8)
	ADDQ BX, R8
	VMOVUPS Y5, (R8)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $32, DI
	DECQ CX
	JNZ wgloop

wgdone:
	VZEROUPPER
	RET
