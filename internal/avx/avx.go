// Package avx ends stretches of AVX code that left the upper halves of the vector
// registers dirty, which makes every later SSE instruction on that core pay for it.
//
// circl's ML-KEM and Keccak assembly (v1.6.5) returns without VZEROUPPER. On the
// machines this project is measured on, SHA-256 (SHA-NI, SSE-encoded) run after it
// took 180 µs instead of 2 µs for a hello's transcript: two fifths of a client's
// handshake CPU.
package avx

// ClearUpper zeroes the upper halves of the vector registers when the CPU has AVX,
// and does nothing otherwise. Call it after code that may leave them dirty.
func ClearUpper() {
	if hasAVX {
		clearUpper()
	}
}
