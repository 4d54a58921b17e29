//go:build amd64 && !purego

#include "textflag.h"

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func tile4x8AVX2(a *float64, ars, ast int, b *float64, bst, n int, out *[32]float64)
// out[r*8+c] = sum_{t<n} a[r*ars+t*ast] * b[t*bst+c]; one fused multiply-add
// per term, in increasing t, from zero.
TEXT ·tile4x8AVX2(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ ars+8(FP), R8
	SHLQ $3, R8
	MOVQ ast+16(FP), R9
	SHLQ $3, R9
	MOVQ b+24(FP), DI
	MOVQ bst+32(FP), R10
	SHLQ $3, R10
	MOVQ n+40(FP), CX
	MOVQ out+48(FP), DX
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

loop4:
	VMOVUPD (DI), Y8
	VMOVUPD 32(DI), Y9
	VBROADCASTSD (SI), Y10
	VFMADD231PD Y8, Y10, Y0
	VFMADD231PD Y9, Y10, Y1
	VBROADCASTSD (R11), Y11
	VFMADD231PD Y8, Y11, Y2
	VFMADD231PD Y9, Y11, Y3
	VBROADCASTSD (R12), Y12
	VFMADD231PD Y8, Y12, Y4
	VFMADD231PD Y9, Y12, Y5
	VBROADCASTSD (R13), Y13
	VFMADD231PD Y8, Y13, Y6
	VFMADD231PD Y9, Y13, Y7
	ADDQ R9, SI
	ADDQ R9, R11
	ADDQ R9, R12
	ADDQ R9, R13
	ADDQ R10, DI
	DECQ CX
	JNZ  loop4

	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VMOVUPD Y2, 64(DX)
	VMOVUPD Y3, 96(DX)
	VMOVUPD Y4, 128(DX)
	VMOVUPD Y5, 160(DX)
	VMOVUPD Y6, 192(DX)
	VMOVUPD Y7, 224(DX)
	VZEROUPPER
	RET

// func tile1x8AVX2(a *float64, ast int, b *float64, bst, n int, out *[8]float64)
TEXT ·tile1x8AVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ ast+8(FP), R9
	SHLQ $3, R9
	MOVQ b+16(FP), DI
	MOVQ bst+24(FP), R10
	SHLQ $3, R10
	MOVQ n+32(FP), CX
	MOVQ out+40(FP), DX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1

loop1:
	VBROADCASTSD (SI), Y10
	VFMADD231PD (DI), Y10, Y0
	VFMADD231PD 32(DI), Y10, Y1
	ADDQ R9, SI
	ADDQ R10, DI
	DECQ CX
	JNZ  loop1

	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VZEROUPPER
	RET

// Constants of expAVX2, each repeated in four lanes: clamp bounds, log2(e),
// ln2 split in a high part exact in 32 bits and a low part (fdlibm), and the
// Taylor coefficients 1/13!, ..., 1/0! in Horner order.
DATA expc<>+0(SB)/8, $0x4086200000000000
DATA expc<>+8(SB)/8, $0x4086200000000000
DATA expc<>+16(SB)/8, $0x4086200000000000
DATA expc<>+24(SB)/8, $0x4086200000000000
DATA expc<>+32(SB)/8, $0xc086200000000000
DATA expc<>+40(SB)/8, $0xc086200000000000
DATA expc<>+48(SB)/8, $0xc086200000000000
DATA expc<>+56(SB)/8, $0xc086200000000000
DATA expc<>+64(SB)/8, $0x3ff71547652b82fe
DATA expc<>+72(SB)/8, $0x3ff71547652b82fe
DATA expc<>+80(SB)/8, $0x3ff71547652b82fe
DATA expc<>+88(SB)/8, $0x3ff71547652b82fe
DATA expc<>+96(SB)/8, $0x3fe62e42fee00000
DATA expc<>+104(SB)/8, $0x3fe62e42fee00000
DATA expc<>+112(SB)/8, $0x3fe62e42fee00000
DATA expc<>+120(SB)/8, $0x3fe62e42fee00000
DATA expc<>+128(SB)/8, $0x3dea39ef35793c76
DATA expc<>+136(SB)/8, $0x3dea39ef35793c76
DATA expc<>+144(SB)/8, $0x3dea39ef35793c76
DATA expc<>+152(SB)/8, $0x3dea39ef35793c76
DATA expc<>+160(SB)/8, $0x3de6124613a86d09
DATA expc<>+168(SB)/8, $0x3de6124613a86d09
DATA expc<>+176(SB)/8, $0x3de6124613a86d09
DATA expc<>+184(SB)/8, $0x3de6124613a86d09
DATA expc<>+192(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+200(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+208(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+216(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+224(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+232(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+240(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+248(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+256(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+264(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+272(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+280(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+288(SB)/8, $0x3ec71de3a556c734
DATA expc<>+296(SB)/8, $0x3ec71de3a556c734
DATA expc<>+304(SB)/8, $0x3ec71de3a556c734
DATA expc<>+312(SB)/8, $0x3ec71de3a556c734
DATA expc<>+320(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+328(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+336(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+344(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+352(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+360(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+368(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+376(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+384(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+392(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+400(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+408(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+416(SB)/8, $0x3f81111111111111
DATA expc<>+424(SB)/8, $0x3f81111111111111
DATA expc<>+432(SB)/8, $0x3f81111111111111
DATA expc<>+440(SB)/8, $0x3f81111111111111
DATA expc<>+448(SB)/8, $0x3fa5555555555555
DATA expc<>+456(SB)/8, $0x3fa5555555555555
DATA expc<>+464(SB)/8, $0x3fa5555555555555
DATA expc<>+472(SB)/8, $0x3fa5555555555555
DATA expc<>+480(SB)/8, $0x3fc5555555555555
DATA expc<>+488(SB)/8, $0x3fc5555555555555
DATA expc<>+496(SB)/8, $0x3fc5555555555555
DATA expc<>+504(SB)/8, $0x3fc5555555555555
DATA expc<>+512(SB)/8, $0x3fe0000000000000
DATA expc<>+520(SB)/8, $0x3fe0000000000000
DATA expc<>+528(SB)/8, $0x3fe0000000000000
DATA expc<>+536(SB)/8, $0x3fe0000000000000
DATA expc<>+544(SB)/8, $0x3ff0000000000000
DATA expc<>+552(SB)/8, $0x3ff0000000000000
DATA expc<>+560(SB)/8, $0x3ff0000000000000
DATA expc<>+568(SB)/8, $0x3ff0000000000000
DATA expc<>+576(SB)/8, $0x3ff0000000000000
DATA expc<>+584(SB)/8, $0x3ff0000000000000
DATA expc<>+592(SB)/8, $0x3ff0000000000000
DATA expc<>+600(SB)/8, $0x3ff0000000000000
GLOBL expc<>(SB), RODATA|NOPTR, $608

// func expAVX2(dst, src *float64, n int)
// dst[i] = exp(src[i]) for i < n, n a multiple of 4. Same operations as
// expGo: clamp to [-708, 708] (NaN passes), k = round-to-even(x*log2e),
// r = x - k*ln2hi - k*ln2lo, a degree-13 Horner polynomial in r with fused
// multiply-adds, and 2^k added to the exponent bits.
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JZ   expdone
	VMOVUPD expc<>+0(SB), Y6
	VMOVUPD expc<>+32(SB), Y7
	VMOVUPD expc<>+64(SB), Y8
	VMOVUPD expc<>+96(SB), Y9
	VMOVUPD expc<>+128(SB), Y10

exploop:
	VMOVUPD (SI), Y0
	VMINPD  Y0, Y6, Y0
	VMAXPD  Y0, Y7, Y0
	VMULPD  Y8, Y0, Y1
	VROUNDPD $0, Y1, Y1
	VMOVAPD Y0, Y2
	VFNMADD231PD Y9, Y1, Y2
	VFNMADD231PD Y10, Y1, Y2
	VMOVUPD expc<>+160(SB), Y3
	VFMADD213PD expc<>+192(SB), Y2, Y3
	VFMADD213PD expc<>+224(SB), Y2, Y3
	VFMADD213PD expc<>+256(SB), Y2, Y3
	VFMADD213PD expc<>+288(SB), Y2, Y3
	VFMADD213PD expc<>+320(SB), Y2, Y3
	VFMADD213PD expc<>+352(SB), Y2, Y3
	VFMADD213PD expc<>+384(SB), Y2, Y3
	VFMADD213PD expc<>+416(SB), Y2, Y3
	VFMADD213PD expc<>+448(SB), Y2, Y3
	VFMADD213PD expc<>+480(SB), Y2, Y3
	VFMADD213PD expc<>+512(SB), Y2, Y3
	VFMADD213PD expc<>+544(SB), Y2, Y3
	VFMADD213PD expc<>+576(SB), Y2, Y3
	VCVTPD2DQY Y1, X4
	VPMOVSXDQ X4, Y4
	VPSLLQ  $52, Y4, Y4
	VPADDQ  Y4, Y3, Y3
	VMOVUPD Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  exploop

expdone:
	VZEROUPPER
	RET

// func tile4x8OutAVX2(a *float64, ars, ast int, b *float64, bst, n int,
//	bias, dst *float64, dstride int, relu bool)
// The tile of tile4x8AVX2 plus bias, optionally max(0, .), stored straight
// into four rows of dst (row stride dstride elements). n >= 1.
TEXT ·tile4x8OutAVX2(SB), NOSPLIT, $0-73
	MOVQ a+0(FP), SI
	MOVQ ars+8(FP), R8
	SHLQ $3, R8
	MOVQ ast+16(FP), R9
	SHLQ $3, R9
	MOVQ b+24(FP), DI
	MOVQ bst+32(FP), R10
	SHLQ $3, R10
	MOVQ n+40(FP), CX
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

loop4o:
	VMOVUPD (DI), Y8
	VMOVUPD 32(DI), Y9
	VBROADCASTSD (SI), Y10
	VFMADD231PD Y8, Y10, Y0
	VFMADD231PD Y9, Y10, Y1
	VBROADCASTSD (R11), Y11
	VFMADD231PD Y8, Y11, Y2
	VFMADD231PD Y9, Y11, Y3
	VBROADCASTSD (R12), Y12
	VFMADD231PD Y8, Y12, Y4
	VFMADD231PD Y9, Y12, Y5
	VBROADCASTSD (R13), Y13
	VFMADD231PD Y8, Y13, Y6
	VFMADD231PD Y9, Y13, Y7
	ADDQ R9, SI
	ADDQ R9, R11
	ADDQ R9, R12
	ADDQ R9, R13
	ADDQ R10, DI
	DECQ CX
	JNZ  loop4o

	MOVQ bias+48(FP), AX
	VMOVUPD (AX), Y8
	VMOVUPD 32(AX), Y9
	VADDPD Y8, Y0, Y0
	VADDPD Y9, Y1, Y1
	VADDPD Y8, Y2, Y2
	VADDPD Y9, Y3, Y3
	VADDPD Y8, Y4, Y4
	VADDPD Y9, Y5, Y5
	VADDPD Y8, Y6, Y6
	VADDPD Y9, Y7, Y7
	MOVB relu+72(FP), AX
	TESTB AL, AL
	JZ   store4o
	VXORPD Y10, Y10, Y10
	VMAXPD Y0, Y10, Y0
	VMAXPD Y1, Y10, Y1
	VMAXPD Y2, Y10, Y2
	VMAXPD Y3, Y10, Y3
	VMAXPD Y4, Y10, Y4
	VMAXPD Y5, Y10, Y5
	VMAXPD Y6, Y10, Y6
	VMAXPD Y7, Y10, Y7

store4o:
	MOVQ dst+56(FP), DX
	MOVQ dstride+64(FP), R8
	SHLQ $3, R8
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	ADDQ R8, DX
	VMOVUPD Y2, (DX)
	VMOVUPD Y3, 32(DX)
	ADDQ R8, DX
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPD Y6, (DX)
	VMOVUPD Y7, 32(DX)
	VZEROUPPER
	RET

// func tile1x8OutAVX2(a *float64, ast int, b *float64, bst, n int,
//	bias, dst *float64, relu bool)
TEXT ·tile1x8OutAVX2(SB), NOSPLIT, $0-57
	MOVQ a+0(FP), SI
	MOVQ ast+8(FP), R9
	SHLQ $3, R9
	MOVQ b+16(FP), DI
	MOVQ bst+24(FP), R10
	SHLQ $3, R10
	MOVQ n+32(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1

loop1o:
	VBROADCASTSD (SI), Y10
	VFMADD231PD (DI), Y10, Y0
	VFMADD231PD 32(DI), Y10, Y1
	ADDQ R9, SI
	ADDQ R10, DI
	DECQ CX
	JNZ  loop1o

	MOVQ bias+40(FP), AX
	VADDPD (AX), Y0, Y0
	VADDPD 32(AX), Y1, Y1
	MOVB relu+56(FP), AX
	TESTB AL, AL
	JZ   store1o
	VXORPD Y10, Y10, Y10
	VMAXPD Y0, Y10, Y0
	VMAXPD Y1, Y10, Y1

store1o:
	MOVQ dst+48(FP), DX
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VZEROUPPER
	RET

// Constants of logAVX2, four lanes each: 2^52 as bits and 2^52+1023, the
// mantissa mask, 1, sqrt(2), 1/2, 2, ln2 low and high parts, and the
// coefficients 1/21, 1/19, ..., 1/1 of P(z) in Horner order.
DATA logc<>+0(SB)/8, $0x4330000000000000
DATA logc<>+8(SB)/8, $0x4330000000000000
DATA logc<>+16(SB)/8, $0x4330000000000000
DATA logc<>+24(SB)/8, $0x4330000000000000
DATA logc<>+32(SB)/8, $0x43300000000003ff
DATA logc<>+40(SB)/8, $0x43300000000003ff
DATA logc<>+48(SB)/8, $0x43300000000003ff
DATA logc<>+56(SB)/8, $0x43300000000003ff
DATA logc<>+64(SB)/8, $0x000fffffffffffff
DATA logc<>+72(SB)/8, $0x000fffffffffffff
DATA logc<>+80(SB)/8, $0x000fffffffffffff
DATA logc<>+88(SB)/8, $0x000fffffffffffff
DATA logc<>+96(SB)/8, $0x3ff0000000000000
DATA logc<>+104(SB)/8, $0x3ff0000000000000
DATA logc<>+112(SB)/8, $0x3ff0000000000000
DATA logc<>+120(SB)/8, $0x3ff0000000000000
DATA logc<>+128(SB)/8, $0x3ff6a09e667f3bcd
DATA logc<>+136(SB)/8, $0x3ff6a09e667f3bcd
DATA logc<>+144(SB)/8, $0x3ff6a09e667f3bcd
DATA logc<>+152(SB)/8, $0x3ff6a09e667f3bcd
DATA logc<>+160(SB)/8, $0x3fe0000000000000
DATA logc<>+168(SB)/8, $0x3fe0000000000000
DATA logc<>+176(SB)/8, $0x3fe0000000000000
DATA logc<>+184(SB)/8, $0x3fe0000000000000
DATA logc<>+192(SB)/8, $0x4000000000000000
DATA logc<>+200(SB)/8, $0x4000000000000000
DATA logc<>+208(SB)/8, $0x4000000000000000
DATA logc<>+216(SB)/8, $0x4000000000000000
DATA logc<>+224(SB)/8, $0x3dea39ef35793c76
DATA logc<>+232(SB)/8, $0x3dea39ef35793c76
DATA logc<>+240(SB)/8, $0x3dea39ef35793c76
DATA logc<>+248(SB)/8, $0x3dea39ef35793c76
DATA logc<>+256(SB)/8, $0x3fe62e42fee00000
DATA logc<>+264(SB)/8, $0x3fe62e42fee00000
DATA logc<>+272(SB)/8, $0x3fe62e42fee00000
DATA logc<>+280(SB)/8, $0x3fe62e42fee00000
DATA logc<>+288(SB)/8, $0x3fa8618618618618
DATA logc<>+296(SB)/8, $0x3fa8618618618618
DATA logc<>+304(SB)/8, $0x3fa8618618618618
DATA logc<>+312(SB)/8, $0x3fa8618618618618
DATA logc<>+320(SB)/8, $0x3faaf286bca1af28
DATA logc<>+328(SB)/8, $0x3faaf286bca1af28
DATA logc<>+336(SB)/8, $0x3faaf286bca1af28
DATA logc<>+344(SB)/8, $0x3faaf286bca1af28
DATA logc<>+352(SB)/8, $0x3fae1e1e1e1e1e1e
DATA logc<>+360(SB)/8, $0x3fae1e1e1e1e1e1e
DATA logc<>+368(SB)/8, $0x3fae1e1e1e1e1e1e
DATA logc<>+376(SB)/8, $0x3fae1e1e1e1e1e1e
DATA logc<>+384(SB)/8, $0x3fb1111111111111
DATA logc<>+392(SB)/8, $0x3fb1111111111111
DATA logc<>+400(SB)/8, $0x3fb1111111111111
DATA logc<>+408(SB)/8, $0x3fb1111111111111
DATA logc<>+416(SB)/8, $0x3fb3b13b13b13b14
DATA logc<>+424(SB)/8, $0x3fb3b13b13b13b14
DATA logc<>+432(SB)/8, $0x3fb3b13b13b13b14
DATA logc<>+440(SB)/8, $0x3fb3b13b13b13b14
DATA logc<>+448(SB)/8, $0x3fb745d1745d1746
DATA logc<>+456(SB)/8, $0x3fb745d1745d1746
DATA logc<>+464(SB)/8, $0x3fb745d1745d1746
DATA logc<>+472(SB)/8, $0x3fb745d1745d1746
DATA logc<>+480(SB)/8, $0x3fbc71c71c71c71c
DATA logc<>+488(SB)/8, $0x3fbc71c71c71c71c
DATA logc<>+496(SB)/8, $0x3fbc71c71c71c71c
DATA logc<>+504(SB)/8, $0x3fbc71c71c71c71c
DATA logc<>+512(SB)/8, $0x3fc2492492492492
DATA logc<>+520(SB)/8, $0x3fc2492492492492
DATA logc<>+528(SB)/8, $0x3fc2492492492492
DATA logc<>+536(SB)/8, $0x3fc2492492492492
DATA logc<>+544(SB)/8, $0x3fc999999999999a
DATA logc<>+552(SB)/8, $0x3fc999999999999a
DATA logc<>+560(SB)/8, $0x3fc999999999999a
DATA logc<>+568(SB)/8, $0x3fc999999999999a
DATA logc<>+576(SB)/8, $0x3fd5555555555555
DATA logc<>+584(SB)/8, $0x3fd5555555555555
DATA logc<>+592(SB)/8, $0x3fd5555555555555
DATA logc<>+600(SB)/8, $0x3fd5555555555555
DATA logc<>+608(SB)/8, $0x3ff0000000000000
DATA logc<>+616(SB)/8, $0x3ff0000000000000
DATA logc<>+624(SB)/8, $0x3ff0000000000000
DATA logc<>+632(SB)/8, $0x3ff0000000000000
GLOBL logc<>(SB), RODATA|NOPTR, $640

// func logAVX2(dst, src *float64, n int)
// dst[i] = log(src[i]) for positive normal src[i], n a multiple of 4. Same
// operations as logGo: x = 2^e m with m in [sqrt(2)/2, sqrt(2)),
// s = (m-1)/(m+1), log x = e ln2 + 2 s P(s^2).
TEXT ·logAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JZ   logdone

logloop:
	VMOVUPD (SI), Y0
	VPSRLQ  $52, Y0, Y1
	VPOR    logc<>+0(SB), Y1, Y1
	VSUBPD  logc<>+32(SB), Y1, Y1
	VANDPD  logc<>+64(SB), Y0, Y2
	VORPD   logc<>+96(SB), Y2, Y2
	VCMPPD  $0x1e, logc<>+128(SB), Y2, Y3
	VMULPD  logc<>+160(SB), Y2, Y4
	VBLENDVPD Y3, Y4, Y2, Y2
	VANDPD  logc<>+96(SB), Y3, Y5
	VADDPD  Y5, Y1, Y1
	VSUBPD  logc<>+96(SB), Y2, Y6
	VADDPD  logc<>+192(SB), Y6, Y7
	VDIVPD  Y7, Y6, Y6
	VMULPD  Y6, Y6, Y8
	VMOVUPD logc<>+288(SB), Y9
	VFMADD213PD logc<>+320(SB), Y8, Y9
	VFMADD213PD logc<>+352(SB), Y8, Y9
	VFMADD213PD logc<>+384(SB), Y8, Y9
	VFMADD213PD logc<>+416(SB), Y8, Y9
	VFMADD213PD logc<>+448(SB), Y8, Y9
	VFMADD213PD logc<>+480(SB), Y8, Y9
	VFMADD213PD logc<>+512(SB), Y8, Y9
	VFMADD213PD logc<>+544(SB), Y8, Y9
	VFMADD213PD logc<>+576(SB), Y8, Y9
	VFMADD213PD logc<>+608(SB), Y8, Y9
	VADDPD  Y6, Y6, Y10
	VMULPD  Y9, Y10, Y10
	VFMADD231PD logc<>+224(SB), Y1, Y10
	VFMADD231PD logc<>+256(SB), Y1, Y10
	VMOVUPD Y10, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  logloop

logdone:
	VZEROUPPER
	RET
