package mocktikv

import (
	"sync"

	"github.com/tikvgo/tikv/transport"
)

// RequestObserver is called with every request a store receives.
type RequestObserver func(storeID uint64, cmd transport.Cmd, req transport.Message)

// ResponseObserver is called with every request a store answered and its
// outcome: the response, or the error the RPC failed with (resp is then
// nil).
type ResponseObserver func(storeID uint64, cmd transport.Cmd, req, resp transport.Message, err error)

// OnRequest registers fn to be called with every request any store receives,
// through gRPC (unary or BatchCommands) or the in-process Sender, before the
// request is checked, executed or matched against faults. Retries are
// separate requests, so fn sees each attempt (and can read
// Context.IsRetryRequest). Requests to a stopped store never arrive and are
// not observed.
//
// fn runs synchronously on the goroutine serving the request, possibly on
// many goroutines at once, so it must be safe for concurrent use and should
// be quick; it must not modify req. It may call the Cluster's methods (no
// lock is held). Observers cannot be removed; register them per test
// cluster.
func (c *Cluster) OnRequest(fn RequestObserver) {
	c.observers.add(fn)
}

// OnResponse registers fn to be called once for every request OnRequest
// observers saw, after it is answered: with the handler's response, a
// fault's scripted answer, or the error the request fails with (including a
// fault's transport error and a context that ended while a fault held the
// request). For LoseResponse faults fn gets the error the client sees. The
// same rules as for OnRequest apply; fn must not modify req or resp.
func (c *Cluster) OnResponse(fn ResponseObserver) {
	c.observers.addResponse(fn)
}

// observerList is a copy-on-write list of observers.
type observerList struct {
	mu   sync.Mutex
	fns  []RequestObserver
	resp []ResponseObserver
}

func (l *observerList) add(fn RequestObserver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns[:len(l.fns):len(l.fns)], fn)
}

func (l *observerList) addResponse(fn ResponseObserver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resp = append(l.resp[:len(l.resp):len(l.resp)], fn)
}

func (l *observerList) notify(storeID uint64, cmd transport.Cmd, req transport.Message) {
	l.mu.Lock()
	fns := l.fns
	l.mu.Unlock()
	for _, fn := range fns {
		fn(storeID, cmd, req)
	}
}

func (l *observerList) notifyResponse(storeID uint64, cmd transport.Cmd, req, resp transport.Message, err error) {
	l.mu.Lock()
	fns := l.resp
	l.mu.Unlock()
	for _, fn := range fns {
		fn(storeID, cmd, req, resp, err)
	}
}
