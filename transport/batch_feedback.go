package transport

import "github.com/pingcap/kvproto/pkg/kvrpcpb"

// HealthFeedback is the health a TiKV store reports about itself on its
// BatchCommands streams (kvrpcpb.HealthFeedback): TiKV attaches it to the
// first response of each stream, then to at most one response per
// server.health-feedback-interval (1s by default), and always to the
// response that answers a GetHealthFeedback sub-request
// (src/server/service/kv.rs).
type HealthFeedback struct {
	// StoreID is the store that sent it.
	StoreID uint64
	// SeqNo increases with each feedback message of one TiKV process.
	SeqNo uint64
	// SlowScore is TiKV's own slow score, 1 (healthy) to 100; client-go
	// counts 80 and above as slow.
	SlowScore int
}

// WithHealthFeedback makes the Pool call fn with every HealthFeedback a
// store attaches to a BatchCommands response, as client-go's batch client
// hands it to its ClientEventListener. fn runs on the stream's receive
// goroutine before the response's requests are completed, so a caller
// whose request carried the feedback finds it recorded when Send returns;
// fn must therefore be quick and must not block or call back into the Pool.
// It may run concurrently for different streams. Unary calls (and a Pool
// built WithoutBatch) deliver nothing: a GetHealthFeedback response carries
// its feedback in the message, for the caller to read.
func WithHealthFeedback(fn func(HealthFeedback)) PoolOption {
	return func(c *poolConfig) { c.onFeedback = fn }
}

// deliverFeedback passes the feedback in a response to the Pool's
// callback, if it has one.
func (b *batchClient) deliverFeedback(hf *kvrpcpb.HealthFeedback) {
	if hf == nil || b.onFeedback == nil {
		return
	}
	b.onFeedback(HealthFeedback{StoreID: hf.StoreId, SeqNo: hf.FeedbackSeqNo, SlowScore: int(hf.SlowScore)})
}
