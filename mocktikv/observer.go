package mocktikv

import (
	"sync"

	"github.com/tikvgo/tikv/transport"
)

// RequestObserver is called with every request a store receives.
type RequestObserver func(storeID uint64, cmd transport.Cmd, req transport.Message)

// OnRequest registers fn to be called with every request any store receives,
// through gRPC or the in-process Sender, before the request is checked or
// executed. Retries are separate requests, so fn sees each attempt (and can
// read Context.IsRetryRequest). Requests to a stopped store never arrive and
// are not observed.
//
// fn runs synchronously on the goroutine serving the request, possibly on
// many goroutines at once, so it must be safe for concurrent use and should
// be quick; it must not modify req. It may call the Cluster's methods (no
// lock is held). Observers cannot be removed; register them per test
// cluster.
func (c *Cluster) OnRequest(fn RequestObserver) {
	c.observers.add(fn)
}

// observerList is a copy-on-write list of observers.
type observerList struct {
	mu  sync.Mutex
	fns []RequestObserver
}

func (l *observerList) add(fn RequestObserver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns[:len(l.fns):len(l.fns)], fn)
}

func (l *observerList) notify(storeID uint64, cmd transport.Cmd, req transport.Message) {
	l.mu.Lock()
	fns := l.fns
	l.mu.Unlock()
	for _, fn := range fns {
		fn(storeID, cmd, req)
	}
}
