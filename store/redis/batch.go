package redis

import (
	"context"
	"runtime"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// batcher sends concurrent store calls together (the scripts of fetches, commits and connection
// lookups, and the HGETALL of a load): a worker takes one call, adds every call already waiting
// (up to maxBatch), and sends them as one pipeline, so that a broadcast that wakes hundreds of
// long-polls, or many clients posting at once, costs a few writes and reads instead of one each
// (on this process and on Redis). A call alone is sent at once: nothing waits for company.
type batcher struct {
	rdb   goredis.UniversalClient
	calls chan *call
	done  chan struct{}
	once  sync.Once
}

// call is one store call: queue adds its command to a pipeline; alone runs it by itself (a
// script's alone also loads the script, so it is the fallback for NOSCRIPT in a pipeline).
type call struct {
	ctx   context.Context
	queue func(p goredis.Pipeliner) goredis.Cmder
	alone func(ctx context.Context) goredis.Cmder
	out   chan goredis.Cmder // receives nil when the call was not sent (see unsent)
	// unsent is why the call was not sent (its caller gave up while it waited).
	unsent error
}

const maxBatch = 128

func newBatcher(rdb goredis.UniversalClient, workers int) *batcher {
	b := &batcher{rdb: rdb, calls: make(chan *call, maxBatch), done: make(chan struct{})}
	for range workers {
		go b.run()
	}
	return b
}

func (b *batcher) close() { b.once.Do(func() { close(b.done) }) }

// do sends a call through the batcher and returns its command once answered; it returns ctx's
// error if the caller gives up before its call is sent (then it was not sent, and neither queue
// nor alone ran).
func (b *batcher) do(ctx context.Context, queue func(p goredis.Pipeliner) goredis.Cmder, alone func(ctx context.Context) goredis.Cmder) (goredis.Cmder, error) {
	c := &call{ctx: ctx, queue: queue, alone: alone, out: make(chan goredis.Cmder, 1)}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.done:
		return alone(ctx), nil
	}
	if cmd := <-c.out; cmd != nil {
		return cmd, nil
	}
	return nil, c.unsent
}

// script runs a script through the batcher.
func (b *batcher) script(ctx context.Context, s *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	cmd, err := b.do(ctx,
		func(p goredis.Pipeliner) goredis.Cmder { return s.EvalSha(context.Background(), p, keys, args...) },
		func(ctx context.Context) goredis.Cmder { return s.Run(ctx, b.rdb, keys, args...) })
	if err != nil {
		failed := goredis.NewCmd(ctx)
		failed.SetErr(err)
		return failed
	}
	return cmd.(*goredis.Cmd)
}

func (b *batcher) run() {
	for {
		var first *call
		select {
		case <-b.done:
			return
		case first = <-b.calls:
		}
		batch := []*call{first}
		if len(b.calls) == 0 {
			// Let the goroutines that are about to call (the other members woken by the same
			// broadcast, on a busy core) queue theirs first: one pipeline for all of them.
			runtime.Gosched()
		}
	more:
		for len(batch) < maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.send(batch)
	}
}

func (b *batcher) send(batch []*call) {
	// A caller that gave up before its call went out is answered without sending it: a fetch
	// takes what it returns, and nobody would receive it; a commit not sent did not happen.
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.unsent = err
			c.out <- nil
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		c := live[0]
		c.out <- c.alone(c.ctx)
		return
	}
	cmds := make([]goredis.Cmder, len(live))
	// Commands on the store's own pipeline: once sent, no caller's deadline cuts them short.
	_, _ = b.rdb.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		for i, c := range live {
			cmds[i] = c.queue(p)
		}
		return nil
	})
	for i, c := range live {
		cmd := cmds[i]
		if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// The script cache was flushed (or this is the first call): load it with this one.
			cmd = c.alone(c.ctx)
		}
		c.out <- cmd
	}
}
