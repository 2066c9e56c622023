//go:build !purego

#include "textflag.h"

// Lane numbers 0..15, scaled by a leading dimension to form gather indices.
DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
DATA lanes<>+32(SB)/4, $8
DATA lanes<>+36(SB)/4, $9
DATA lanes<>+40(SB)/4, $10
DATA lanes<>+44(SB)/4, $11
DATA lanes<>+48(SB)/4, $12
DATA lanes<>+52(SB)/4, $13
DATA lanes<>+56(SB)/4, $14
DATA lanes<>+60(SB)/4, $15
GLOBL lanes<>(SB), RODATA|NOPTR, $64

// func packA14N(kb int, a *float32, lda int, dst *float32, r int, alpha float32)
// Packs r (1..14) rows of row-major A (kb > 0 columns each) into a 14-row
// micro-panel: per k step one 16-lane gather down the column, scaled by
// alpha, stored as 14 floats; lanes >= r are zero.
TEXT ·packA14N(SB), NOSPLIT, $0-44
	MOVQ r+32(FP), BX
	MOVL $1, DX
	SHLXL BX, DX, DX
	DECL DX
	KMOVW DX, K1
	MOVL $0x3fff, DX
	KMOVW DX, K3
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), AX
	MOVQ dst+24(FP), DI
	VBROADCASTSS alpha+40(FP), Z30
	VPBROADCASTD AX, Z29
	VPMULLD lanes<>(SB), Z29, Z31
pa14n_loop:
	VPXORD Z0, Z0, Z0
	KMOVW K1, K2
	VGATHERDPS (SI)(Z31*4), K2, Z0
	VMULPS Z30, Z0, Z0
	VMOVUPS Z0, K3, (DI)
	ADDQ $4, SI
	ADDQ $56, DI
	DECQ CX
	JNZ pa14n_loop
	VZEROUPPER
	RET

// func packA14T(kb int, a *float32, lda int, dst *float32, r int, alpha float32)
// Packs a 14-row micro-panel from transposed A (k×m, row stride lda): per
// k step a masked load of r contiguous floats, scaled by alpha.
TEXT ·packA14T(SB), NOSPLIT, $0-44
	MOVQ r+32(FP), BX
	MOVL $1, DX
	SHLXL BX, DX, DX
	DECL DX
	KMOVW DX, K1
	MOVL $0x3fff, DX
	KMOVW DX, K3
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), AX
	SHLQ $2, AX
	MOVQ dst+24(FP), DI
	VBROADCASTSS alpha+40(FP), Z30
pa14t_loop:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS Z30, Z0, Z0
	VMOVUPS Z0, K3, (DI)
	ADDQ AX, SI
	ADDQ $56, DI
	DECQ CX
	JNZ pa14t_loop
	VZEROUPPER
	RET

// func packB32N(kb int, b *float32, ldb int, dst *float32, panels int)
// Packs kb rows of `panels` full 32-column micro-panels from row-major B,
// reading each B row sequentially (prefetch friendly) and scattering its
// 128-byte pieces to the panels (panel stride kb*32 floats).
TEXT ·packB32N(SB), NOSPLIT, $0-40
	MOVQ kb+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), AX
	SHLQ $2, AX
	MOVQ dst+24(FP), DI
	MOVQ panels+32(FP), BX
	MOVQ CX, DX
	SHLQ $7, DX
pb32n_row:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ BX, R12
pb32n_panel:
	VMOVUPS (R10), Z0
	VMOVUPS 64(R10), Z1
	VMOVUPS Z0, (R11)
	VMOVUPS Z1, 64(R11)
	ADDQ $128, R10
	ADDQ DX, R11
	DECQ R12
	JNZ pb32n_panel
	ADDQ AX, SI
	ADDQ $128, DI
	DECQ CX
	JNZ pb32n_row
	VZEROUPPER
	RET

// func packB32T(kb int, b *float32, ldb int, dst *float32, c int)
// Packs one 32-column micro-panel from transposed B (n×k, row stride
// ldb): per k step two 16-lane gathers across c (1..32) rows of B;
// columns >= c are zero.
TEXT ·packB32T(SB), NOSPLIT, $0-40
	MOVQ c+32(FP), BX
	MOVQ $1, DX
	SHLXQ BX, DX, DX
	DECQ DX
	KMOVW DX, K1
	SHRQ $16, DX
	KMOVW DX, K4
	MOVQ kb+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), AX
	MOVQ dst+24(FP), DI
	VPBROADCASTD AX, Z29
	VPMULLD lanes<>(SB), Z29, Z31
	SHLQ $4, AX
	VPBROADCASTD AX, Z28
	VPADDD Z28, Z31, Z28
pb32t_loop:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	KMOVW K1, K2
	KMOVW K4, K5
	VGATHERDPS (SI)(Z31*4), K2, Z0
	VGATHERDPS (SI)(Z28*4), K5, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, SI
	ADDQ $128, DI
	DECQ CX
	JNZ pb32t_loop
	VZEROUPPER
	RET

// func packA14NT(chunks int, a *float32, lda int, dst *float32, alpha float32)
// Packs a full 14-row micro-panel of row-major A, 16 k steps per chunk:
// 14 row loads (rows 14 and 15 are zero), a 16×16 in-register transpose
// (unpack ps, unpack pd, two rounds of 128-bit lane shuffles), alpha
// scaling and 16 masked 14-float stores. Reads stream along the rows, so
// this beats gathering down the columns.
TEXT ·packA14NT(SB), NOSPLIT, $0-36
	MOVL $0x3fff, DX
	KMOVW DX, K3
	MOVQ chunks+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ lda+16(FP), AX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), BX
	LEAQ (AX)(AX*4), DX
	LEAQ (R10)(DX*1), R11
	LEAQ (R11)(DX*1), R12
	MOVQ dst+24(FP), DI
	LEAQ alpha+32(FP), R13
pa14nt_loop:
	VMOVUPS (R10), Z0
	VMOVUPS (R10)(AX*1), Z1
	VMOVUPS (R10)(AX*2), Z2
	VMOVUPS (R10)(BX*1), Z3
	VMOVUPS (R10)(AX*4), Z4
	VMOVUPS (R11), Z5
	VMOVUPS (R11)(AX*1), Z6
	VMOVUPS (R11)(AX*2), Z7
	VMOVUPS (R11)(BX*1), Z8
	VMOVUPS (R11)(AX*4), Z9
	VMOVUPS (R12), Z10
	VMOVUPS (R12)(AX*1), Z11
	VMOVUPS (R12)(AX*2), Z12
	VMOVUPS (R12)(BX*1), Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xDD, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xDD, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xDD, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xDD, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xDD, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xDD, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xDD, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xDD, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xDD, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xDD, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xDD, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xDD, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xDD, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xDD, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xDD, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xDD, Z31, Z23, Z15
	VMULPS.BCST (R13), Z0, Z0
	VMOVUPS Z0, K3, 0(DI)
	VMULPS.BCST (R13), Z1, Z1
	VMOVUPS Z1, K3, 56(DI)
	VMULPS.BCST (R13), Z2, Z2
	VMOVUPS Z2, K3, 112(DI)
	VMULPS.BCST (R13), Z3, Z3
	VMOVUPS Z3, K3, 168(DI)
	VMULPS.BCST (R13), Z4, Z4
	VMOVUPS Z4, K3, 224(DI)
	VMULPS.BCST (R13), Z5, Z5
	VMOVUPS Z5, K3, 280(DI)
	VMULPS.BCST (R13), Z6, Z6
	VMOVUPS Z6, K3, 336(DI)
	VMULPS.BCST (R13), Z7, Z7
	VMOVUPS Z7, K3, 392(DI)
	VMULPS.BCST (R13), Z8, Z8
	VMOVUPS Z8, K3, 448(DI)
	VMULPS.BCST (R13), Z9, Z9
	VMOVUPS Z9, K3, 504(DI)
	VMULPS.BCST (R13), Z10, Z10
	VMOVUPS Z10, K3, 560(DI)
	VMULPS.BCST (R13), Z11, Z11
	VMOVUPS Z11, K3, 616(DI)
	VMULPS.BCST (R13), Z12, Z12
	VMOVUPS Z12, K3, 672(DI)
	VMULPS.BCST (R13), Z13, Z13
	VMOVUPS Z13, K3, 728(DI)
	VMULPS.BCST (R13), Z14, Z14
	VMOVUPS Z14, K3, 784(DI)
	VMULPS.BCST (R13), Z15, Z15
	VMOVUPS Z15, K3, 840(DI)
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $896, DI
	DECQ CX
	JNZ pa14nt_loop
	VZEROUPPER
	RET

// func prefetchBlock(p *float32, stride, rows, bytes int)
// PREFETCHT1 every cache line of rows rows of `bytes` bytes, stride floats
// apart. Prefetches never fault; rows or bytes <= 0 do nothing.
TEXT ·prefetchBlock(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ stride+8(FP), AX
	SHLQ $2, AX
	MOVQ rows+16(FP), CX
	MOVQ bytes+24(FP), DX
	DECQ DX
	JL pf_done
	TESTQ CX, CX
	JLE pf_done
pf_row:
	XORQ BX, BX
pf_line:
	PREFETCHT1 (SI)(BX*1)
	ADDQ $64, BX
	CMPQ BX, DX
	JLE pf_line
	PREFETCHT1 (SI)(DX*1)
	ADDQ AX, SI
	DECQ CX
	JNZ pf_row
pf_done:
	RET
