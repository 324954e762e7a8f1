package avx

import (
	"runtime"
	"testing"
)

func TestClearUpperCleansWhatAVX2Dirtied(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dirtyUpper()
	dirty, known := UpperDirty()
	if !known {
		t.Skip("this CPU cannot report whether the upper halves are in use (no AVX or no XGETBV(1))")
	}
	if !dirty {
		t.Fatal("after VPCMPEQB on Y0 the upper halves read as clean: UpperDirty cannot see dirty state")
	}
	ClearUpper()
	if dirty, _ := UpperDirty(); dirty {
		t.Fatal("after ClearUpper the upper halves are still in use")
	}
}
