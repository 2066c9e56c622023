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
	SHRQ $4, CX
	JZ done

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
