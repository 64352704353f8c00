package transport

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// ConnStateChange is one connectivity change of one of the Pool's gRPC
// connections (WithConnStateObserver).
type ConnStateChange struct {
	// Addr is the store address the connection goes to; Conn numbers the
	// connection among the address's (0 to WithConnsPerStore-1).
	Addr string
	Conn int
	// From and To are the states before and after the change.
	From, To connectivity.State
}

// WithConnStateObserver has f called with every connectivity change of
// every connection the Pool makes (Idle → Connecting → Ready, Ready →
// TransientFailure after a broken transport, ..., Shutdown when the Pool
// closes it): the event log beside the gauge ConnStates feeds (client-go
// samples the states into its grpc_connection_state gauge only). f runs
// on a goroutine the Pool owns, one per connection, started when the
// connection is made and stopped, and waited for, when CloseAddr or Close
// closes it; f must be quick and must not call back into the Pool.
// Without the option no goroutine is started.
func WithConnStateObserver(f func(ConnStateChange)) PoolOption {
	return func(c *poolConfig) { c.onConnState = f }
}

// connWatch is the goroutines reporting an address's connections' state
// changes.
type connWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watchConns starts one goroutine per connection in conns reporting its
// changes to f; nil when f is nil.
func watchConns(addr string, conns []*grpc.ClientConn, f func(ConnStateChange)) *connWatch {
	if f == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &connWatch{cancel: cancel}
	for i, cc := range conns {
		// The first state is read here, before the connection is used,
		// so that no change is missed (GetState does not make an idle
		// connection connect). A change that passes between two reads is
		// reported as one (Idle to Ready, say).
		from := cc.GetState()
		w.wg.Go(func() {
			for cc.WaitForStateChange(ctx, from) {
				to := cc.GetState()
				f(ConnStateChange{Addr: addr, Conn: i, From: from, To: to})
				if to == connectivity.Shutdown {
					return
				}
				from = to
			}
		})
	}
	return w
}

// stop ends the goroutines and waits for them. It runs after the
// connections were closed, so each has reported its Shutdown (or is
// about to, and the cancel ends its wait).
func (w *connWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}
