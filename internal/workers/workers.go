// Package workers runs short tasks on goroutines that outlive them.
package workers

import "time"

// Linger is how long an idle worker waits for more work before it ends.
const Linger = 10 * time.Second

// Pool runs short tasks (a WebSocket pump's step, a frame's route) on goroutines that outlive
// them: a task that finds no idle worker starts a new one, and a worker ends after Linger
// without work. A worker's stack stays grown from task to task, where a goroutine per task
// would grow a fresh one each time; a goroutine that hands its deep work to a worker keeps a
// small stack while it waits (an idle connection's reader); and no task waits for another,
// however long one blocks. The zero value is not usable: call New.
type Pool struct {
	tasks chan func()
}

// New returns a pool with no workers yet.
func New() *Pool { return &Pool{tasks: make(chan func())} }

// Run runs task on an idle worker, or on a new one.
func (w *Pool) Run(task func()) {
	select {
	case w.tasks <- task:
	default:
		go w.work(task)
	}
}

func (w *Pool) work(task func()) {
	idle := time.NewTimer(Linger)
	defer idle.Stop()
	for {
		task()
		idle.Reset(Linger)
		select {
		case task = <-w.tasks:
		case <-idle.C:
			return
		}
	}
}
