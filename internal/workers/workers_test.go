package workers

import (
	"testing"
	"time"
)

// TestWorkers: a task that blocks does not hold up another (a new worker takes it), and a task
// after one has ended runs on the worker that ran it.
func TestWorkers(t *testing.T) {
	w := New()
	release, ran := make(chan struct{}), make(chan string, 4)
	w.Run(func() { <-release; ran <- "blocked" })
	w.Run(func() { ran <- "second" })
	select {
	case got := <-ran:
		if got != "second" {
			t.Fatalf("ran %s first", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second task waited for the blocked one")
	}
	close(release)
	<-ran
	// Both workers are idle now; the next tasks run on them, none on a new goroutine.
	time.Sleep(10 * time.Millisecond)
	for range 10 {
		done := make(chan struct{})
		select {
		case w.tasks <- func() { close(done) }:
		case <-time.After(10 * time.Second):
			t.Fatal("no idle worker took a task")
		}
		<-done
	}
}
