//go:build race

package lab

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = true
