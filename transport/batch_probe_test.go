package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// brokenBatchStream is a BatchCommands stream that the server reset as
// soon as it opened: every Recv fails.
type brokenBatchStream struct {
	tikvpb.Tikv_BatchCommandsClient
	err error
}

func (b brokenBatchStream) Recv() (*tikvpb.BatchCommandsResponse, error) { return nil, b.err }
func (b brokenBatchStream) SendMsg(any) error                            { return b.err }

// A stream whose receive loop has already failed it (and dropped its
// in-flight map) must make the probe fail with the stream's error, not
// crash the process from a background goroutine: once in about 10,000
// Connect/Put/Close cycles the reset won that race.
func TestBatchProbeOnStreamBrokenBeforeProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &batchClient{cfg: BatchConfig{}.withDefaults(), ctx: ctx, cancel: cancel, stop: make(chan struct{})}
	s := newBatchStream(b, nil, 0)
	reset := errors.New("stream reset by peer")
	ls := &liveStream{
		st:       brokenBatchStream{err: reset},
		cancel:   func() {},
		inflight: make(map[uint64]*batchEntry),
		recvDone: make(chan struct{}),
	}
	b.wg.Add(1)
	s.recvLoop(ls) // returns once Recv failed; the map is gone
	if ls.inflight != nil {
		t.Fatal("receive loop kept the in-flight map of a broken stream")
	}
	err := s.probe(ls)
	if !errors.Is(err, reset) {
		t.Fatalf("probe = %v, want the stream's reset", err)
	}
	if n := s.inflight.Load(); n != 0 {
		t.Fatalf("in-flight count = %d after a probe that was never written", n)
	}
}
