package avx

import "golang.org/x/sys/cpu"

var hasAVX = cpu.X86.HasAVX

// clearUpper runs VZEROUPPER.
func clearUpper()

// dirtyUpper sets the upper halves of Y0, as AVX2 code does; tests use it.
func dirtyUpper()

// xinuse reads XGETBV(1): which state components are not in their initial state.
func xinuse() uint64

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// ymmInUse is XINUSE's bit for the upper halves of the YMM registers.
const ymmInUse = 1 << 2

// UpperDirty reports whether the upper halves of the vector registers are in use
// on this thread, as far as the CPU can say (known is false when it cannot: no AVX,
// or no XGETBV with ECX=1). Tests use it to check that code leaves them clean.
func UpperDirty() (dirty, known bool) {
	if !hasAVX || !cpu.X86.HasOSXSAVE {
		return false, false
	}
	if max, _, _, _ := cpuid(0, 0); max < 0xd {
		return false, false
	}
	if a, _, _, _ := cpuid(0xd, 1); a&(1<<2) == 0 {
		return false, false
	}
	return xinuse()&ymmInUse != 0, true
}
