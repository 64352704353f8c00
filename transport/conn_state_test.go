package transport

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/connectivity"
)

// connEvents records ConnStateChanges.
type connEvents struct {
	mu  sync.Mutex
	got []ConnStateChange
}

func (e *connEvents) add(c ConnStateChange) {
	e.mu.Lock()
	e.got = append(e.got, c)
	e.mu.Unlock()
}

func (e *connEvents) has(to connectivity.State) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.got, func(c ConnStateChange) bool { return c.To == to })
}

// TestConnStateObserverReportsChanges: with WithConnStateObserver, the
// first Send's connection reports its way to Ready, a stopped server its
// loss (a change out of Ready), and Close its Shutdown, after which the
// watching goroutines are gone (goleak checks at the package's end). Each
// event names the address and connection and chains From to the
// previous To.
func TestConnStateObserverReportsChanges(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	var ev connEvents
	p := NewPool(WithConnsPerStore(1), WithConnStateObserver(ev.add))
	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return ev.has(connectivity.Ready) }, 5*time.Second, 5*time.Millisecond)

	s.srv.Stop()
	require.Eventually(t, func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return slices.ContainsFunc(ev.got, func(c ConnStateChange) bool {
			return c.From == connectivity.Ready && c.To != connectivity.Ready
		})
	}, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, p.Close())
	ev.mu.Lock()
	defer ev.mu.Unlock()
	require.Equal(t, connectivity.Shutdown, ev.got[len(ev.got)-1].To, "events %v", ev.got)
	for i, c := range ev.got {
		require.Equal(t, s.addr, c.Addr)
		require.Equal(t, 0, c.Conn)
		if i > 0 {
			require.Equal(t, ev.got[i-1].To, c.From, "events %v", ev.got)
		}
	}
}

// TestConnStateObserverStopsOnCloseAddr: CloseAddr stops an address's
// watchers with its connections; without the option none is started.
func TestConnStateObserverStopsOnCloseAddr(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	var ev connEvents
	p, _ := newTestPool(t, WithConnStateObserver(ev.add))
	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	require.NoError(t, p.CloseAddr(s.addr))
	require.True(t, ev.has(connectivity.Shutdown), "events %v", ev.got)

	plain, _ := newTestPool(t)
	_, err = plain.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	require.Nil(t, plain.addrs[s.addr].watch)
}
