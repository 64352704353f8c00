package middleware

import (
	"context"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// scripted is a fake Sender for the guard layers: each store answers with
// the outcome its script gives (a plain response by default) and the
// attempts that reached it are counted.
type scripted struct {
	mu      sync.Mutex
	answer  map[uint64]func() (*transport.Response, error)
	reached map[uint64]int
}

func newScripted() *scripted {
	return &scripted{answer: map[uint64]func() (*transport.Response, error){}, reached: map[uint64]int{}}
}

func (s *scripted) set(store uint64, f func() (*transport.Response, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer[store] = f
}

func (s *scripted) count(store uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reached[store]
}

func (s *scripted) Send(_ context.Context, req *transport.Request) (*transport.Response, error) {
	s.mu.Lock()
	s.reached[req.Target.StoreID]++
	f := s.answer[req.Target.StoreID]
	s.mu.Unlock()
	if f == nil {
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{}}, nil
	}
	return f()
}

// regionErrorAnswer is a response carrying a region error: the store
// answered.
func regionErrorAnswer() (*transport.Response, error) {
	return &transport.Response{Msg: &kvrpcpb.RawGetResponse{RegionError: &errorpb.Error{NotLeader: &errorpb.NotLeader{}}}}, nil
}

// rawGet is one RawGet attempt to store.
func rawGet(store uint64) *transport.Request {
	return &transport.Request{
		Cmd:    transport.CmdRawGet,
		Msg:    &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")},
		Target: transport.Target{StoreID: store, Addr: addrOf(store), RegionID: 2},
	}
}

func addrOf(store uint64) string { return "store" + string(rune('0'+store)) + ":20160" }
