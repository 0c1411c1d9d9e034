package handler

import "time"

// workerLinger is how long an idle worker waits for more work before it ends.
const workerLinger = 10 * time.Second

// workers runs short tasks (a pump's steps) on goroutines that outlive them: a task that finds
// no idle worker starts a new one, and a worker ends after workerLinger without work. A
// worker's stack stays grown from task to task, where a goroutine per task would grow a fresh
// one each time; and no task waits for another, however long one blocks.
type workers struct {
	tasks chan func()
}

func newWorkers() *workers { return &workers{tasks: make(chan func())} }

// run runs task on an idle worker, or on a new one.
func (w *workers) run(task func()) {
	select {
	case w.tasks <- task:
	default:
		go w.work(task)
	}
}

func (w *workers) work(task func()) {
	idle := time.NewTimer(workerLinger)
	defer idle.Stop()
	for {
		task()
		idle.Reset(workerLinger)
		select {
		case task = <-w.tasks:
		case <-idle.C:
			return
		}
	}
}
