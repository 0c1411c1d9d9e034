//go:build race

package handler_test

// raceEnabled reports whether the tests run under the race detector, which allows at most 8128
// live goroutines.
const raceEnabled = true
