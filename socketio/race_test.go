//go:build race

package socketio

// raceEnabled reports whether the tests run under the race detector, which changes allocation
// counts (its instrumentation allocates, and sync.Pool drops items at random).
const raceEnabled = true
