package redis

import (
	"context"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// batcher sends concurrent fetch scripts together: a worker takes one call, adds every call
// already waiting (up to maxBatch), and sends them as one pipeline, so that a broadcast that wakes
// hundreds of long-polls costs a few writes and reads instead of one each (on this process and
// on Redis). A call alone is sent at once: nothing waits for company.
type batcher struct {
	rdb   goredis.UniversalClient
	calls chan *fetchCall
	done  chan struct{}
	once  sync.Once
}

type fetchCall struct {
	ctx  context.Context
	keys []string
	args []any
	out  chan fetchResult
}

type fetchResult struct {
	raw []any
	err error
}

const maxBatch = 128

func newBatcher(rdb goredis.UniversalClient, workers int) *batcher {
	b := &batcher{rdb: rdb, calls: make(chan *fetchCall), done: make(chan struct{})}
	for range workers {
		go b.run()
	}
	return b
}

func (b *batcher) close() { b.once.Do(func() { close(b.done) }) }

// fetch runs the fetch script through the batcher; it returns early with ctx's error if the
// caller gives up before its call is sent.
func (b *batcher) fetch(ctx context.Context, keys []string, args ...any) ([]any, error) {
	c := &fetchCall{ctx: ctx, keys: keys, args: args, out: make(chan fetchResult, 1)}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.done:
		return fetchScript.Run(ctx, b.rdb, keys, args...).Slice()
	}
	r := <-c.out
	return r.raw, r.err
}

func (b *batcher) run() {
	for {
		var first *fetchCall
		select {
		case <-b.done:
			return
		case first = <-b.calls:
		}
		batch := []*fetchCall{first}
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

func (b *batcher) send(batch []*fetchCall) {
	// A caller that gave up before its call went out is answered without sending it: a fetch
	// takes what it returns, and nobody would receive it.
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.out <- fetchResult{err: err}
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		c := live[0]
		raw, err := fetchScript.Run(c.ctx, b.rdb, c.keys, c.args...).Slice()
		c.out <- fetchResult{raw, err}
		return
	}
	cmds := make([]*goredis.Cmd, len(live))
	_, _ = b.rdb.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		for i, c := range live {
			cmds[i] = fetchScript.EvalSha(context.Background(), p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range live {
		raw, err := cmds[i].Slice()
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// The script cache was flushed (or this is the first call): load it with this one.
			raw, err = fetchScript.Run(c.ctx, b.rdb, c.keys, c.args...).Slice()
		}
		c.out <- fetchResult{raw, err}
	}
}
