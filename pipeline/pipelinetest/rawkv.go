package pipelinetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// Handler serves one attempt that passed the Sender's region checks: region
// is the true region the attempt is addressed to (nil for a store-level
// command). A Handler runs with no lock of the kit held and must be safe
// for concurrent use.
type Handler func(ctx context.Context, req *transport.Request, region *pdclient.Region) (*transport.Response, error)

// RawKV is a tiny in-memory raw key-value store and the Sender's default
// Handler (Serve). Keys are Go strings holding any bytes. It is safe for
// concurrent use.
type RawKV struct {
	mu   sync.Mutex
	data map[string]string
}

// NewRawKV returns an empty store.
func NewRawKV() *RawKV { return &RawKV{data: map[string]string{}} }

// Put stores value under key.
func (s *RawKV) Put(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = value
}

// Get returns the value under key and whether there is one.
func (s *RawKV) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Delete removes key.
func (s *RawKV) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
}

// Keys returns every key, sorted.
func (s *RawKV) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedLocked()
}

func (s *RawKV) sortedLocked() []string {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Serve is a Handler for the raw commands RawGet, RawBatchGet, RawPut,
// RawBatchPut, RawDelete, RawBatchDelete, RawDeleteRange and RawScan (column
// families and TTLs aside), answering as TiKV does where the key lies
// outside the region: a point read gets an error in the body (TiKV's
// region snapshot fails the read, which is not a region error), a write
// gets KeyNotInRegion (raftstore's check_key_in_region at apply), and so
// does a scan starting outside the region (the snapshot iterator's
// bounds check). A scan with limit 0 returns nothing, as in TiKV. Other commands fail with a send
// error naming them, so a test notices it needs a Handler of its own.
func (s *RawKV) Serve(_ context.Context, req *transport.Request, region *pdclient.Region) (*transport.Response, error) {
	in := func(k []byte) bool { return region == nil || region.Contains(k) }
	notIn := func(k []byte) (*transport.Response, error) {
		e := &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: k, RegionId: region.ID(), StartKey: region.StartKey(), EndKey: region.EndKey()}}
		return RegionErrorResponse(req.Cmd, e), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := req.Msg.(type) {
	case *kvrpcpb.RawGetRequest:
		if !in(m.Key) {
			return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Error: fmt.Sprintf("key %q is not in region %d", m.Key, region.ID())}}, nil
		}
		v, ok := s.data[string(m.Key)]
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte(v), NotFound: !ok}}, nil
	case *kvrpcpb.RawBatchGetRequest:
		resp := &kvrpcpb.RawBatchGetResponse{}
		for _, k := range m.Keys {
			if !in(k) {
				abort := fmt.Sprintf("key %q is not in region %d", k, region.ID())
				return &transport.Response{Msg: &kvrpcpb.RawBatchGetResponse{Pairs: []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: abort}}}}}, nil
			}
			if v, ok := s.data[string(k)]; ok {
				resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: k, Value: []byte(v)})
			}
		}
		return &transport.Response{Msg: resp}, nil
	case *kvrpcpb.RawPutRequest:
		if !in(m.Key) {
			return notIn(m.Key)
		}
		s.data[string(m.Key)] = string(m.Value)
		return &transport.Response{Msg: &kvrpcpb.RawPutResponse{}}, nil
	case *kvrpcpb.RawBatchPutRequest:
		for _, p := range m.Pairs {
			if !in(p.Key) {
				return notIn(p.Key)
			}
		}
		for _, p := range m.Pairs {
			s.data[string(p.Key)] = string(p.Value)
		}
		return &transport.Response{Msg: &kvrpcpb.RawBatchPutResponse{}}, nil
	case *kvrpcpb.RawDeleteRequest:
		if !in(m.Key) {
			return notIn(m.Key)
		}
		delete(s.data, string(m.Key))
		return &transport.Response{Msg: &kvrpcpb.RawDeleteResponse{}}, nil
	case *kvrpcpb.RawBatchDeleteRequest:
		for _, k := range m.Keys {
			if !in(k) {
				return notIn(k)
			}
		}
		for _, k := range m.Keys {
			delete(s.data, string(k))
		}
		return &transport.Response{Msg: &kvrpcpb.RawBatchDeleteResponse{}}, nil
	case *kvrpcpb.RawDeleteRangeRequest:
		if !in(m.StartKey) {
			return notIn(m.StartKey)
		}
		if region != nil && len(region.EndKey()) > 0 && (len(m.EndKey) == 0 || bytes.Compare(m.EndKey, region.EndKey()) > 0) {
			return notIn(m.EndKey)
		}
		for k := range s.data {
			if k >= string(m.StartKey) && (len(m.EndKey) == 0 || k < string(m.EndKey)) {
				delete(s.data, k)
			}
		}
		return &transport.Response{Msg: &kvrpcpb.RawDeleteRangeResponse{}}, nil
	case *kvrpcpb.RawScanRequest:
		return s.scanLocked(req, region, m)
	}
	return nil, fmt.Errorf("pipelinetest: RawKV does not serve %s", req.Cmd)
}

// scanLocked serves a raw scan within the region: forward over
// [start_key, end_key), reverse over [end_key, start_key) descending, an
// empty bound meaning the region's edge; at most limit pairs (TiKV answers
// a limit of 0 with nothing).
func (s *RawKV) scanLocked(req *transport.Request, region *pdclient.Region, m *kvrpcpb.RawScanRequest) (*transport.Response, error) {
	if region != nil {
		// The scan's start must lie in the region: its first key going
		// forward, its exclusive upper bound going backward.
		if (!m.Reverse && !region.Contains(m.StartKey)) || (m.Reverse && !region.ContainsByEnd(m.StartKey)) {
			e := &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: m.StartKey, RegionId: region.ID(), StartKey: region.StartKey(), EndKey: region.EndKey()}}
			return RegionErrorResponse(req.Cmd, e), nil
		}
	}
	lower, upper := m.StartKey, m.EndKey
	keys := s.sortedLocked()
	if m.Reverse {
		lower, upper = m.EndKey, m.StartKey
		slices.Reverse(keys)
	}
	resp := &kvrpcpb.RawScanResponse{}
	for _, k := range keys {
		if len(resp.Kvs) >= int(m.Limit) {
			break
		}
		kb := []byte(k)
		if (region != nil && !region.Contains(kb)) || bytes.Compare(kb, lower) < 0 || (len(upper) > 0 && bytes.Compare(kb, upper) >= 0) {
			continue
		}
		pair := &kvrpcpb.KvPair{Key: kb}
		if !m.KeyOnly {
			pair.Value = []byte(s.data[k])
		}
		resp.Kvs = append(resp.Kvs, pair)
	}
	return &transport.Response{Msg: resp}, nil
}
