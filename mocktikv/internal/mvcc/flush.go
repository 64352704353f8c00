package mvcc

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Flush is KvFlush, pipelined DML's prewrite (src/storage/txn/commands/
// flush.rs): each mutation is an optimistic 2PC prewrite with constraint
// checks on, txn_size u64::MAX and min_commit_ts start_ts+1, whose lock
// carries the request's generation. A key this transaction flushed before
// is overwritten by a newer generation and left alone by an older or equal
// one. Unlike Prewrite, other transactions' locks are reported while the
// other mutations are still written; a fatal error (WriteConflict,
// AlreadyExist, ...) or an assertion failure writes nothing; a failure
// explained by this transaction's own commit record makes the request
// succeed with nothing written.
func (s *Store) Flush(req *kvrpcpb.FlushRequest) *kvrpcpb.FlushResponse {
	resp := &kvrpcpb.FlushResponse{}
	fail := func(e *kvrpcpb.KeyError) *kvrpcpb.FlushResponse {
		resp.Errors = []*kvrpcpb.KeyError{e}
		return resp
	}
	if req.Generation == 0 {
		return fail(errOther("generation should be greater than 0 for Flush requests"))
	}
	for _, m := range req.Mutations {
		switch m.Op {
		case kvrpcpb.Op_Put, kvrpcpb.Op_Del, kvrpcpb.Op_Lock, kvrpcpb.Op_Insert, kvrpcpb.Op_CheckNotExists:
		default:
			// TiKV panics converting such a mutation; answer instead.
			return fail(errOther(fmt.Sprintf("mutation op %s is not supported in flush", m.Op)))
		}
		if e := checkKeySize(m.Key); e != nil {
			return fail(e)
		}
	}
	pw := &kvrpcpb.PrewriteRequest{
		Context:        req.Context,
		Mutations:      req.Mutations,
		PrimaryLock:    req.PrimaryKey,
		StartVersion:   req.StartTs,
		LockTtl:        req.LockTtl,
		TxnSize:        maxU64,
		MinCommitTs:    req.StartTs + 1,
		AssertionLevel: req.AssertionLevel,
	}
	s.update(func(b *batch) {
		p := &prewriter{s: s, b: b, req: pw, generation: req.Generation}
		var locked []*kvrpcpb.KeyError
		var assertionErr *kvrpcpb.KeyError
		for _, m := range req.Mutations {
			kerr, fatal, assertion, done := p.prewriteKey(m, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK, 0, false)
			switch {
			case done:
				b.discard()
				return
			case fatal:
				b.discard()
				resp.Errors = []*kvrpcpb.KeyError{kerr}
				return
			case kerr != nil:
				locked = append(locked, kerr)
			}
			if assertion != nil && assertionErr == nil {
				assertionErr = assertion
			}
		}
		if assertionErr != nil {
			b.discard()
			resp.Errors = []*kvrpcpb.KeyError{assertionErr}
			return
		}
		for _, pl := range p.locks {
			if pl.checkOnly {
				continue
			}
			if pl.longValue != nil {
				b.putValue(pl.key, pl.lock.StartTS, pl.longValue)
			}
			b.putLock(pl.key, pl.lock)
		}
		b.apply()
		resp.Errors = locked
	})
	return resp
}

// BufferBatchGet is KvBufferBatchGet (Storage::buffer_batch_get): a
// pipelined transaction reads back what it flushed, from the lock CF only.
// Keys are sorted and deduplicated; a key without a lock of transaction
// version is omitted; its Put lock gives the value (omitted if the long
// value is missing), its Delete lock an empty value. An own Lock or
// pessimistic lock cannot exist in a pipelined transaction (TiKV panics):
// the whole request fails. max_ts is pushed as by any read.
func (s *Store) BufferBatchGet(req *kvrpcpb.BufferBatchGetRequest) *kvrpcpb.BufferBatchGetResponse {
	s.noteRead(req.Context, req.Version)
	keys := slices.Clone(req.Keys)
	slices.SortFunc(keys, bytes.Compare) // raw order is encoded order
	keys = slices.CompactFunc(keys, bytes.Equal)
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvrpcpb.BufferBatchGetResponse{}
	for _, k := range keys {
		e := s.lookup(k)
		if e == nil || e.lock == nil || e.lock.StartTS != req.Version {
			continue
		}
		l := e.lock
		switch l.Type {
		case kvrpcpb.Op_Del:
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: bytes.Clone(k), Value: []byte{}})
		case kvrpcpb.Op_Put:
			v, ok := l.ShortValue, l.ShortValue != nil
			if !ok {
				v, ok = e.values[req.Version]
			}
			if ok {
				resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: bytes.Clone(k), Value: bytes.Clone(v)})
			}
		default:
			return &kvrpcpb.BufferBatchGetResponse{Error: errOther(fmt.Sprintf("unexpected lock type %s in buffer_batch_get: pipelined-dml only supports optimistic transactions", l.Type))}
		}
	}
	return resp
}
