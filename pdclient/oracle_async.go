package pdclient

import (
	"context"

	"github.com/tikvgo/tikv/kv"
)

// TSFuture is a timestamp being fetched (client-go's oracle.Future): Wait
// blocks until it has arrived.
type TSFuture struct {
	done chan struct{}
	ts   uint64
	err  error
}

// Wait returns the timestamp, or why it could not be fetched. It may be
// called any number of times, from any goroutine.
func (f *TSFuture) Wait() (uint64, error) {
	<-f.done
	return f.ts, f.err
}

// NowAsync starts fetching a fresh timestamp, as Now does (with its
// retries), and returns at once (client-go's GetTimestampAsync), so that
// the caller can overlap the fetch with other work. The fetch ends with
// ctx, and with the Oracle: Close cancels the fetches in flight and waits
// for them; after Close the future fails with kv.ErrClosed.
func (o *Oracle) NowAsync(ctx context.Context) *TSFuture {
	f := &TSFuture{done: make(chan struct{})}
	o.asyncMu.Lock()
	if o.closed.Load() {
		o.asyncMu.Unlock()
		f.err = kv.ErrClosed
		close(f.done)
		return f
	}
	o.async.Add(1)
	o.asyncMu.Unlock()
	go func() {
		defer o.async.Done()
		defer close(f.done)
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(o.life, cancel)
		defer stop()
		f.ts, f.err = o.Now(fctx)
	}()
	return f
}

// LowResolutionAsync is LowResolution as a future (client-go's
// GetLowResolutionTimestampAsync): the value is at hand, so the future has
// always arrived.
func (o *Oracle) LowResolutionAsync() *TSFuture {
	f := &TSFuture{done: make(chan struct{}), ts: o.LowResolution()}
	if o.closed.Load() {
		f.ts, f.err = 0, kv.ErrClosed
	}
	close(f.done)
	return f
}

// KeyspaceGroupMinTS returns the smallest timestamp any TSO keyspace group
// may still hand out (client-go's Oracle.GetAllTSOKeyspaceGroupMinTS;
// PD's GetMinTS), when the Oracle's TSO can tell (a MinTSReader; every PD
// from Connect, and mocktikv's); kv.ErrInvalidArgument otherwise.
func (o *Oracle) KeyspaceGroupMinTS(ctx context.Context) (uint64, error) {
	if o.closed.Load() {
		return 0, kv.ErrClosed
	}
	r, ok := o.pd.(MinTSReader)
	if !ok {
		return 0, kv.InvalidArgument("pdclient: the oracle's TSO cannot report the keyspace groups' min ts")
	}
	physical, logical, err := r.GetMinTS(ctx)
	if err != nil {
		return 0, err
	}
	return ComposeTS(physical, logical), nil
}
