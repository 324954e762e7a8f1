//go:build !amd64

package avx

const hasAVX = false

func clearUpper() {}

func dirtyUpper() {}

// UpperDirty reports that this architecture cannot say (see the amd64 version).
func UpperDirty() (dirty, known bool) { return false, false }
