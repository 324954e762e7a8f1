#include "textflag.h"

// func clearUpper()
TEXT ·clearUpper(SB), NOSPLIT, $0-0
	VZEROUPPER
	RET

// func dirtyUpper()
TEXT ·dirtyUpper(SB), NOSPLIT, $0-0
	VPCMPEQB Y0, Y0, Y0
	RET

// func xinuse() uint64
TEXT ·xinuse(SB), NOSPLIT, $0-8
	MOVL $1, CX
	XGETBV
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET
