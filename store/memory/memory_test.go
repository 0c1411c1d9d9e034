package memory_test

import (
	"testing"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
	"github.com/serverless-socketio/server/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) session.Store {
		return memory.New(memory.Options{Now: clock.Now})
	})
}
