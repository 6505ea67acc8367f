//go:build !purego

#include "textflag.h"

// func maskAVX2(p []byte, key uint32)
// len(p) is a multiple of 16. 128 bytes per round in four YMM registers,
// then 32 at a time, then a last 16 in the low half.
TEXT ·maskAVX2(SB), NOSPLIT, $0-28
	MOVQ p_base+0(FP), DI
	MOVQ p_len+8(FP), CX
	MOVL key+24(FP), AX
	MOVQ AX, X0
	VPBROADCASTD X0, Y0

big:
	CMPQ CX, $128
	JB   mid
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ $128, DI
	SUBQ $128, CX
	JMP  big

mid:
	CMPQ CX, $32
	JB   last
	VPXOR   (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ $32, DI
	SUBQ $32, CX
	JMP  mid

last:
	TESTQ CX, CX
	JZ    done
	VPXOR   (DI), X0, X1
	VMOVDQU X1, (DI)

done:
	VZEROUPPER
	RET

// func maskSSE2(p []byte, key uint32)
// len(p) is a multiple of 16. Legacy SSE xor needs aligned memory operands,
// so loads go through MOVOU first.
TEXT ·maskSSE2(SB), NOSPLIT, $0-28
	MOVQ   p_base+0(FP), DI
	MOVQ   p_len+8(FP), CX
	MOVL   key+24(FP), AX
	MOVQ   AX, X0
	PSHUFD $0, X0, X0

big:
	CMPQ CX, $64
	JB   small
	MOVOU (DI), X1
	MOVOU 16(DI), X2
	MOVOU 32(DI), X3
	MOVOU 48(DI), X4
	PXOR  X0, X1
	PXOR  X0, X2
	PXOR  X0, X3
	PXOR  X0, X4
	MOVOU X1, (DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	ADDQ  $64, DI
	SUBQ  $64, CX
	JMP   big

small:
	TESTQ CX, CX
	JZ    done
	MOVOU (DI), X1
	PXOR  X0, X1
	MOVOU X1, (DI)
	ADDQ  $16, DI
	SUBQ  $16, CX
	JMP   small

done:
	RET
