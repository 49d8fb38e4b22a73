//go:build amd64 && !purego

#include "textflag.h"

// Vector constants for the GELU kernels: each value repeated in 8 lanes.
// Generated from the constants in ops_math.go (geluC, geluA, the rational
// tanh coefficients tanhA*/tanhB* and tanhClamp).
DATA geluK<>+0(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+4(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+8(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+12(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+16(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+20(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+24(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+28(SB)/4, $0x3f4c422a // geluC
DATA geluK<>+32(SB)/4, $0x3d372713 // geluA
DATA geluK<>+36(SB)/4, $0x3d372713 // geluA
DATA geluK<>+40(SB)/4, $0x3d372713 // geluA
DATA geluK<>+44(SB)/4, $0x3d372713 // geluA
DATA geluK<>+48(SB)/4, $0x3d372713 // geluA
DATA geluK<>+52(SB)/4, $0x3d372713 // geluA
DATA geluK<>+56(SB)/4, $0x3d372713 // geluA
DATA geluK<>+60(SB)/4, $0x3d372713 // geluA
DATA geluK<>+64(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+68(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+72(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+76(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+80(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+84(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+88(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+92(SB)/4, $0x3e095d4f // geluA3
DATA geluK<>+96(SB)/4, $0x3f000000 // half
DATA geluK<>+100(SB)/4, $0x3f000000 // half
DATA geluK<>+104(SB)/4, $0x3f000000 // half
DATA geluK<>+108(SB)/4, $0x3f000000 // half
DATA geluK<>+112(SB)/4, $0x3f000000 // half
DATA geluK<>+116(SB)/4, $0x3f000000 // half
DATA geluK<>+120(SB)/4, $0x3f000000 // half
DATA geluK<>+124(SB)/4, $0x3f000000 // half
DATA geluK<>+128(SB)/4, $0x3f800000 // one
DATA geluK<>+132(SB)/4, $0x3f800000 // one
DATA geluK<>+136(SB)/4, $0x3f800000 // one
DATA geluK<>+140(SB)/4, $0x3f800000 // one
DATA geluK<>+144(SB)/4, $0x3f800000 // one
DATA geluK<>+148(SB)/4, $0x3f800000 // one
DATA geluK<>+152(SB)/4, $0x3f800000 // one
DATA geluK<>+156(SB)/4, $0x3f800000 // one
DATA geluK<>+160(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+164(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+168(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+172(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+176(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+180(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+184(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+188(SB)/4, $0x40fcf84f // clampHi
DATA geluK<>+192(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+196(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+200(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+204(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+208(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+212(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+216(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+220(SB)/4, $0xc0fcf84f // clampLo
DATA geluK<>+224(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+228(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+232(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+236(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+240(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+244(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+248(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+252(SB)/4, $0xa59f25c0 // a13
DATA geluK<>+256(SB)/4, $0x2a61337e // a11
DATA geluK<>+260(SB)/4, $0x2a61337e // a11
DATA geluK<>+264(SB)/4, $0x2a61337e // a11
DATA geluK<>+268(SB)/4, $0x2a61337e // a11
DATA geluK<>+272(SB)/4, $0x2a61337e // a11
DATA geluK<>+276(SB)/4, $0x2a61337e // a11
DATA geluK<>+280(SB)/4, $0x2a61337e // a11
DATA geluK<>+284(SB)/4, $0x2a61337e // a11
DATA geluK<>+288(SB)/4, $0xaebd37ff // a9
DATA geluK<>+292(SB)/4, $0xaebd37ff // a9
DATA geluK<>+296(SB)/4, $0xaebd37ff // a9
DATA geluK<>+300(SB)/4, $0xaebd37ff // a9
DATA geluK<>+304(SB)/4, $0xaebd37ff // a9
DATA geluK<>+308(SB)/4, $0xaebd37ff // a9
DATA geluK<>+312(SB)/4, $0xaebd37ff // a9
DATA geluK<>+316(SB)/4, $0xaebd37ff // a9
DATA geluK<>+320(SB)/4, $0x335c0041 // a7
DATA geluK<>+324(SB)/4, $0x335c0041 // a7
DATA geluK<>+328(SB)/4, $0x335c0041 // a7
DATA geluK<>+332(SB)/4, $0x335c0041 // a7
DATA geluK<>+336(SB)/4, $0x335c0041 // a7
DATA geluK<>+340(SB)/4, $0x335c0041 // a7
DATA geluK<>+344(SB)/4, $0x335c0041 // a7
DATA geluK<>+348(SB)/4, $0x335c0041 // a7
DATA geluK<>+352(SB)/4, $0x3779434a // a5
DATA geluK<>+356(SB)/4, $0x3779434a // a5
DATA geluK<>+360(SB)/4, $0x3779434a // a5
DATA geluK<>+364(SB)/4, $0x3779434a // a5
DATA geluK<>+368(SB)/4, $0x3779434a // a5
DATA geluK<>+372(SB)/4, $0x3779434a // a5
DATA geluK<>+376(SB)/4, $0x3779434a // a5
DATA geluK<>+380(SB)/4, $0x3779434a // a5
DATA geluK<>+384(SB)/4, $0x3a270ded // a3
DATA geluK<>+388(SB)/4, $0x3a270ded // a3
DATA geluK<>+392(SB)/4, $0x3a270ded // a3
DATA geluK<>+396(SB)/4, $0x3a270ded // a3
DATA geluK<>+400(SB)/4, $0x3a270ded // a3
DATA geluK<>+404(SB)/4, $0x3a270ded // a3
DATA geluK<>+408(SB)/4, $0x3a270ded // a3
DATA geluK<>+412(SB)/4, $0x3a270ded // a3
DATA geluK<>+416(SB)/4, $0x3ba059dc // a1
DATA geluK<>+420(SB)/4, $0x3ba059dc // a1
DATA geluK<>+424(SB)/4, $0x3ba059dc // a1
DATA geluK<>+428(SB)/4, $0x3ba059dc // a1
DATA geluK<>+432(SB)/4, $0x3ba059dc // a1
DATA geluK<>+436(SB)/4, $0x3ba059dc // a1
DATA geluK<>+440(SB)/4, $0x3ba059dc // a1
DATA geluK<>+444(SB)/4, $0x3ba059dc // a1
DATA geluK<>+448(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+452(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+456(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+460(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+464(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+468(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+472(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+476(SB)/4, $0x35a0d3d8 // b6
DATA geluK<>+480(SB)/4, $0x38f895d6 // b4
DATA geluK<>+484(SB)/4, $0x38f895d6 // b4
DATA geluK<>+488(SB)/4, $0x38f895d6 // b4
DATA geluK<>+492(SB)/4, $0x38f895d6 // b4
DATA geluK<>+496(SB)/4, $0x38f895d6 // b4
DATA geluK<>+500(SB)/4, $0x38f895d6 // b4
DATA geluK<>+504(SB)/4, $0x38f895d6 // b4
DATA geluK<>+508(SB)/4, $0x38f895d6 // b4
DATA geluK<>+512(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+516(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+520(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+524(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+528(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+532(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+536(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+540(SB)/4, $0x3b14aa05 // b2
DATA geluK<>+544(SB)/4, $0x3ba059dd // b0
DATA geluK<>+548(SB)/4, $0x3ba059dd // b0
DATA geluK<>+552(SB)/4, $0x3ba059dd // b0
DATA geluK<>+556(SB)/4, $0x3ba059dd // b0
DATA geluK<>+560(SB)/4, $0x3ba059dd // b0
DATA geluK<>+564(SB)/4, $0x3ba059dd // b0
DATA geluK<>+568(SB)/4, $0x3ba059dd // b0
DATA geluK<>+572(SB)/4, $0x3ba059dd // b0
GLOBL geluK<>(SB), RODATA|NOPTR, $576

// func geluFwdAVX2(y, th, x *float32, n int)
// n is a positive multiple of 8.
TEXT ·geluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ th+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	VMOVUPS geluK<>+0(SB), Y15
	VMOVUPS geluK<>+32(SB), Y14
	VMOVUPS geluK<>+96(SB), Y13
	VMOVUPS geluK<>+128(SB), Y12
	VMOVUPS geluK<>+160(SB), Y11
	VMOVUPS geluK<>+192(SB), Y10

fwdloop:
	VMOVUPS (DX), Y0               // v
	VMULPS Y0, Y0, Y1              // v^2
	VFMADD213PS Y12, Y14, Y1       // 1 + a v^2
	VMULPS Y0, Y1, Y1              // v (1 + a v^2)
	VMULPS Y15, Y1, Y1             // u = c v (1 + a v^2)
	VMINPS Y11, Y1, Y1             // clamp u
	VMAXPS Y10, Y1, Y1
	VMULPS Y1, Y1, Y2              // u^2
	VMOVUPS geluK<>+224(SB), Y3         // p(u^2)
	VFMADD213PS geluK<>+256(SB), Y2, Y3
	VFMADD213PS geluK<>+288(SB), Y2, Y3
	VFMADD213PS geluK<>+320(SB), Y2, Y3
	VFMADD213PS geluK<>+352(SB), Y2, Y3
	VFMADD213PS geluK<>+384(SB), Y2, Y3
	VFMADD213PS geluK<>+416(SB), Y2, Y3
	VMULPS Y1, Y3, Y3              // u p
	VMOVUPS geluK<>+448(SB), Y4          // q(u^2)
	VFMADD213PS geluK<>+480(SB), Y2, Y4
	VFMADD213PS geluK<>+512(SB), Y2, Y4
	VFMADD213PS geluK<>+544(SB), Y2, Y4
	VDIVPS Y4, Y3, Y3              // t = tanh(u) = u p / q
	VMOVUPS Y3, (SI)
	VADDPS Y12, Y3, Y3             // 1 + t
	VMULPS Y13, Y0, Y0             // v / 2
	VMULPS Y3, Y0, Y0              // y = v (1 + t) / 2
	VMOVUPS Y0, (DI)
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ fwdloop
	VZEROUPPER
	RET

// func geluBwdAVX2(dx, dy, x, th *float32, n int)
// n is a positive multiple of 8.
TEXT ·geluBwdAVX2(SB), NOSPLIT, $0-40
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ th+24(FP), BX
	MOVQ n+32(FP), CX
	VMOVUPS geluK<>+0(SB), Y15
	VMOVUPS geluK<>+64(SB), Y14
	VMOVUPS geluK<>+96(SB), Y13
	VMOVUPS geluK<>+128(SB), Y12

bwdloop:
	VMOVUPS (DX), Y0               // v
	VMOVUPS (BX), Y5               // t
	VMULPS Y0, Y0, Y1              // v^2
	VFMADD213PS Y12, Y14, Y1       // 1 + 3a v^2
	VMULPS Y15, Y1, Y1             // du = c (1 + 3a v^2)
	VMULPS Y5, Y5, Y2              // t^2
	VSUBPS Y2, Y12, Y2             // 1 - t^2
	VMULPS Y13, Y0, Y0             // v / 2
	VMULPS Y2, Y0, Y0              // v (1 - t^2) / 2
	VMULPS Y1, Y0, Y0              // ... du
	VADDPS Y12, Y5, Y3             // 1 + t
	VMULPS Y13, Y3, Y3             // (1 + t) / 2
	VADDPS Y3, Y0, Y0              // gelu'(v)
	VMULPS (SI), Y0, Y0            // dy gelu'(v)
	VMOVUPS Y0, (DI)
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ bwdloop
	VZEROUPPER
	RET
