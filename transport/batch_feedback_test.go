package transport

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
)

// feedbackLog collects what a Pool's WithHealthFeedback callback receives.
type feedbackLog struct {
	mu  sync.Mutex
	got []HealthFeedback
}

func (l *feedbackLog) add(f HealthFeedback) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, f)
}

func (l *feedbackLog) all() []HealthFeedback {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]HealthFeedback(nil), l.got...)
}

// TestBatchHealthFeedbackReachesCallback ports client-go's
// TestBatchClientReceiveHealthFeedback (internal/client/client_test.go):
// the feedback TiKV attaches to a BatchCommands response reaches the
// Pool's listener (WithHealthFeedback, client-go's OnHealthFeedback).
func TestBatchHealthFeedbackReachesCallback(t *testing.T) {
	s := newBatchTikv()
	s.inline = true
	addr := startTikv(t, s)
	var log feedbackLog
	p, _ := newTestPool(t, WithConnsPerStore(1), WithHealthFeedback(log.add))

	_, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.Empty(t, log.all(), "responses without health_feedback deliver nothing")

	s.feedback.Store(&kvrpcpb.HealthFeedback{StoreId: 7, FeedbackSeqNo: 42, SlowScore: 90})
	_, err = p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	// No waiting: the callback runs before the response's requests
	// complete, so the feedback is there when Send returns.
	require.Equal(t, []HealthFeedback{{StoreID: 7, SeqNo: 42, SlowScore: 90}}, log.all())
}

func TestBatchHealthFeedbackNeedsNoCallback(t *testing.T) {
	s := newBatchTikv()
	s.inline = true
	s.feedback.Store(&kvrpcpb.HealthFeedback{StoreId: 7, FeedbackSeqNo: 1, SlowScore: 90})
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))
	resp, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.True(t, resp.Msg.(*kvrpcpb.RawGetResponse).NotFound)
}
