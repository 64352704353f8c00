package txn

import (
	"context"

	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/transport"
)

// ResourceGroupTagger computes the resource-group tag of one request
// (client-go's tikvrpc.ResourceGroupTagger): TiKV's resource metering
// (Top SQL) groups CPU and I/O by it. It gets the command and the request
// message, and must not change the message.
type ResourceGroupTagger func(cmd transport.Cmd, msg transport.Message) []byte

// WithResourceGroupTagger tags each of the snapshot's requests that has no
// tag of its own (WithResourceGroupTag wins, as in client-go) with
// tagger's answer, an empty answer leaving it untagged.
func WithResourceGroupTagger(tagger ResourceGroupTagger) SnapshotOption {
	return func(c *snapshotConfig) { c.tagger = tagger }
}

// WithTxnResourceGroupTagger is WithResourceGroupTagger for a
// transaction's reads and its commit (client-go's
// KVTxn.SetResourceGroupTagger); WithTxnResourceGroupTag wins over it.
func WithTxnResourceGroupTagger(tagger ResourceGroupTagger) BeginOption {
	return func(c *beginConfig) { c.snapOpts = append(c.snapOpts, WithResourceGroupTagger(tagger)) }
}

// taggerInterceptor is the name the tagger's ctx interceptor goes by, so a
// call nested in another of the same snapshot tags once.
const taggerInterceptor = "txn.resource-group-tagger"

// withTagger returns ctx with the snapshot's tagger as a ctx interceptor
// (every attempt of the call passes through it), or ctx itself when the
// snapshot has no tagger or a fixed tag.
func (s *Snapshot) withTagger(ctx context.Context) context.Context {
	tagger := s.cfg.tagger
	if tagger == nil || len(s.cfg.groupTag) > 0 {
		return ctx
	}
	return middleware.WithNamedInterceptor(ctx, taggerInterceptor, func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			// The attempt owns its Context (transport's middleware
			// contract); the tag is one of the fields a layer may write.
			if rctx := req.Cmd.Context(req.Msg); rctx != nil && len(rctx.ResourceGroupTag) == 0 {
				if tag := tagger(req.Cmd, req.Msg); len(tag) > 0 {
					rctx.ResourceGroupTag = tag
				}
			}
			return next.Send(ctx, req)
		})
	})
}
