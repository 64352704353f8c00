package txn

import "context"

// WithPipelinedSkipResolve is WithPipelined whose commit leaves the
// locks other than the primary to readers (client-go's
// pipelinedSkipResolveLock failpoint).
func WithPipelinedSkipResolve(o PipelinedOptions) BeginOption {
	o.skipResolve = true
	return WithPipelined(o)
}

// PipelinedHeartbeatRunning reports whether a pipelined transaction's
// heartbeat runs (client-go's committer IsTTLRunning).
func (t *Txn) PipelinedHeartbeatRunning() bool { return t.pl != nil && t.pl.hbRunning.Load() }

// PipelinedPrimary returns a pipelined transaction's primary key.
func (t *Txn) PipelinedPrimary() []byte { return t.pl.primary }

// WaitBackground waits for the client's background work (resolution of
// a pipelined transaction's locks after its commit or rollback).
func (c *Client) WaitBackground(ctx context.Context) error { return c.group.Wait(ctx) }
