package mocktikv

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/mocktikv/internal/mvcc"
	"github.com/tikvgo/tikv/transport"
)

// registerTxnHandlers adds the transactional (Percolator) commands. Each
// checks the request's region like TiKV's raftstore (checkRegionLocked)
// and then runs the MVCC engine's command under the same topology read
// lock. Transactional keys are compared with region boundaries in stored
// form (memcomparable-encoded). KvGC has no handler: TiKV answers it
// UNIMPLEMENTED (GC is autonomous there; see Cluster.RunGC).
func registerTxnHandlers(t handlerTable) {
	t[transport.CmdGet] = typed((*Cluster).kvGet)
	t[transport.CmdBatchGet] = typed((*Cluster).kvBatchGet)
	t[transport.CmdScan] = typed((*Cluster).kvScan)
	t[transport.CmdPrewrite] = typed((*Cluster).kvPrewrite)
	t[transport.CmdCommit] = typed((*Cluster).kvCommit)
	t[transport.CmdCleanup] = typed((*Cluster).kvCleanup)
	t[transport.CmdBatchRollback] = typed((*Cluster).kvBatchRollback)
	t[transport.CmdCheckTxnStatus] = typed((*Cluster).kvCheckTxnStatus)
	t[transport.CmdCheckSecondaryLocks] = typed((*Cluster).kvCheckSecondaryLocks)
	t[transport.CmdResolveLock] = typed((*Cluster).kvResolveLock)
	t[transport.CmdScanLock] = typed((*Cluster).kvScanLock)
	t[transport.CmdTxnHeartBeat] = typed((*Cluster).kvTxnHeartBeat)
	t[transport.CmdPessimisticLock] = typedCtx((*Cluster).kvPessimisticLock)
	t[transport.CmdPessimisticRollback] = typed((*Cluster).kvPessimisticRollback)
	t[transport.CmdDeleteRange] = typed((*Cluster).kvDeleteRange)
	t[transport.CmdUnsafeDestroyRange] = typed((*Cluster).unsafeDestroyRange)
	t[transport.CmdMvccGetByKey] = typed((*Cluster).mvccGetByKey)
	t[transport.CmdMvccGetByStartTs] = typed((*Cluster).mvccGetByStartTs)
	t[transport.CmdFlush] = typed((*Cluster).kvFlush)
	t[transport.CmdBufferBatchGet] = typed((*Cluster).kvBufferBatchGet)
}

// RunGC applies TiKV's MVCC garbage collection with the given safe point to
// every key (src/storage/txn/actions/gc.rs): versions a reader at or above
// the safe point can no longer see are removed; locks are kept. TiKV runs
// GC by itself, so no RPC does this (KvGC is UNIMPLEMENTED); tests call it.
func (c *Cluster) RunGC(safePoint uint64) {
	c.txn.store.GC(safePoint)
}

// txnKeyInRegion reports whether a transactional key is in r: TiKV compares
// Key::from_raw(key), the memcomparable encoding, with region boundaries.
func txnKeyInRegion(key []byte, r *metapb.Region) bool {
	return keyInRegion(mvcc.EncodeKey(key), r)
}

// regionRange is r's key range for the engine.
func regionRange(r *metapb.Region) mvcc.Range {
	return mvcc.Range{Start: r.StartKey, End: r.EndKey}
}

// outOfRegionKeyError is what a command whose first access to key is a
// point read of the lock or write CF gets for a key outside the region:
// the region snapshot's error is boxed as Other and surfaces as abort, not
// as KeyNotInRegion (TiKV's region_snapshot.rs).
func outOfRegionKeyError(key []byte, r *metapb.Region) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Abort: outOfRegionRead(mvcc.EncodeKey(key), r)}
}

// firstKeyOutside returns the first key not in r, or nil.
func firstKeyOutside(keys [][]byte, r *metapb.Region) []byte {
	for _, k := range keys {
		if !txnKeyInRegion(k, r) {
			return k
		}
	}
	return nil
}

// withRegion checks ctx's region for storeID (holding c.mu for reading)
// and runs fn against it under the same lock. A region error, from the
// check or from fn, is the whole answer: regionErr builds that response.
func withRegion[Resp any](c *Cluster, storeID uint64, write bool, ctx *kvrpcpb.Context, regionErr func(*errorpb.Error) Resp, fn func(r *metapb.Region) (Resp, *errorpb.Error)) Resp {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, rerr := c.checkRegionLocked(storeID, write, ctx)
	if rerr != nil {
		return regionErr(rerr)
	}
	resp, rerr := fn(r.meta)
	if rerr != nil {
		return regionErr(rerr)
	}
	return resp
}

// apiError is the api-version check of the transactional commands that
// make it (Storage::check_api_version; cmd is TiKV's CommandKind name), as
// a KeyError.
func (c *Cluster) apiError(ctx *kvrpcpb.Context, cmd string, keys ...[]byte) *kvrpcpb.KeyError {
	if msg := c.checkAPIVersion(ctx, cmd, false, keys...); msg != "" {
		return &kvrpcpb.KeyError{Abort: msg}
	}
	return nil
}

// apiRangeError is check_api_version_ranges for a transactional range
// command, which hands it the encoded bounds; an empty end is absent.
func (c *Cluster) apiRangeError(ctx *kvrpcpb.Context, cmd string, start, end []byte) string {
	return c.checkAPIVersionRanges(ctx, cmd, false, apiRange{start: mvcc.EncodeKey(start), end: mvcc.EncodeKey(end), openEnd: len(end) == 0})
}

func (c *Cluster) kvGet(storeID uint64, req *kvrpcpb.GetRequest) *kvrpcpb.GetResponse {
	if e := c.apiError(req.Context, "get", req.Key); e != nil {
		return &kvrpcpb.GetResponse{Error: e}
	}
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.GetResponse { return &kvrpcpb.GetResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.GetResponse, *errorpb.Error) {
			if !txnKeyInRegion(req.Key, r) {
				// An RC read seeks the write CF first and gets
				// KeyNotInRegion; SI and RCCheckTS read the lock CF
				// first and get an abort (point_getter.rs).
				if req.Context.GetIsolationLevel() == kvrpcpb.IsolationLevel_RC {
					return nil, keyNotInRegion(mvcc.EncodeKey(req.Key), r)
				}
				return &kvrpcpb.GetResponse{Error: outOfRegionKeyError(req.Key, r)}, nil
			}
			return c.txn.store.Get(req), nil
		})
}

func (c *Cluster) kvBatchGet(storeID uint64, req *kvrpcpb.BatchGetRequest) *kvrpcpb.BatchGetResponse {
	if e := c.apiError(req.Context, "batch_get", req.Keys...); e != nil {
		return &kvrpcpb.BatchGetResponse{Error: e, Pairs: []*kvrpcpb.KvPair{{Error: e}}}
	}
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.BatchGetResponse { return &kvrpcpb.BatchGetResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.BatchGetResponse, *errorpb.Error) {
			if firstKeyOutside(req.Keys, r) == nil {
				return c.txn.store.BatchGet(req), nil
			}
			// Some key is outside: each such key fails on its own, as a
			// keyless pair, and the others are read in order.
			resp := &kvrpcpb.BatchGetResponse{}
			for _, k := range req.Keys {
				if !txnKeyInRegion(k, r) {
					resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Error: outOfRegionKeyError(k, r)})
					continue
				}
				one := *req
				one.Keys = [][]byte{k}
				resp.Pairs = append(resp.Pairs, c.txn.store.BatchGet(&one).Pairs...)
			}
			return resp, nil
		})
}

func (c *Cluster) kvScan(storeID uint64, req *kvrpcpb.ScanRequest) *kvrpcpb.ScanResponse {
	if msg := c.apiRangeError(req.Context, "scan", req.StartKey, req.EndKey); msg != "" {
		e := &kvrpcpb.KeyError{Abort: msg}
		return &kvrpcpb.ScanResponse{Error: e, Pairs: []*kvrpcpb.KvPair{{Error: e}}}
	}
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.ScanResponse { return &kvrpcpb.ScanResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.ScanResponse, *errorpb.Error) {
			return c.txn.store.Scan(req, regionRange(r)), nil
		})
}

func mutationKeys(ms []*kvrpcpb.Mutation) [][]byte {
	keys := make([][]byte, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	return keys
}

func (c *Cluster) kvPrewrite(storeID uint64, req *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteResponse {
	if e := c.apiError(req.Context, "prewrite", mutationKeys(req.Mutations)...); e != nil {
		return &kvrpcpb.PrewriteResponse{Errors: []*kvrpcpb.KeyError{e}}
	}
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.PrewriteResponse { return &kvrpcpb.PrewriteResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.PrewriteResponse, *errorpb.Error) {
			if k := firstKeyOutside(mutationKeys(req.Mutations), r); k != nil {
				return &kvrpcpb.PrewriteResponse{Errors: []*kvrpcpb.KeyError{outOfRegionKeyError(k, r)}}, nil
			}
			return c.txn.store.Prewrite(req), nil
		})
}

// kvFlush is KvFlush (pipelined DML, commands/flush.rs), checked like a
// prewrite: a key outside the region aborts the request.
func (c *Cluster) kvFlush(storeID uint64, req *kvrpcpb.FlushRequest) *kvrpcpb.FlushResponse {
	if e := c.apiError(req.Context, "flush", mutationKeys(req.Mutations)...); e != nil {
		return &kvrpcpb.FlushResponse{Errors: []*kvrpcpb.KeyError{e}}
	}
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.FlushResponse { return &kvrpcpb.FlushResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.FlushResponse, *errorpb.Error) {
			if k := firstKeyOutside(mutationKeys(req.Mutations), r); k != nil {
				return &kvrpcpb.FlushResponse{Errors: []*kvrpcpb.KeyError{outOfRegionKeyError(k, r)}}, nil
			}
			return c.txn.store.Flush(req), nil
		})
}

// kvBufferBatchGet is KvBufferBatchGet (Storage::buffer_batch_get): every
// failure, a key outside the region's lock-CF point read included, is the
// request-level error alone; pairs are not filled.
func (c *Cluster) kvBufferBatchGet(storeID uint64, req *kvrpcpb.BufferBatchGetRequest) *kvrpcpb.BufferBatchGetResponse {
	if e := c.apiError(req.Context, "buffer_batch_get", req.Keys...); e != nil {
		return &kvrpcpb.BufferBatchGetResponse{Error: e}
	}
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.BufferBatchGetResponse {
			return &kvrpcpb.BufferBatchGetResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.BufferBatchGetResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.BufferBatchGetResponse{Error: outOfRegionKeyError(k, r)}, nil
			}
			return c.txn.store.BufferBatchGet(req), nil
		})
}

// KvFlush serves the pipelined-DML flush over gRPC.
func (s *tikvService) KvFlush(ctx context.Context, req *kvrpcpb.FlushRequest) (*kvrpcpb.FlushResponse, error) {
	return serve[*kvrpcpb.FlushResponse](ctx, s, transport.CmdFlush, req)
}

// KvBufferBatchGet serves the pipelined-DML read-back over gRPC.
func (s *tikvService) KvBufferBatchGet(ctx context.Context, req *kvrpcpb.BufferBatchGetRequest) (*kvrpcpb.BufferBatchGetResponse, error) {
	return serve[*kvrpcpb.BufferBatchGetResponse](ctx, s, transport.CmdBufferBatchGet, req)
}

func (c *Cluster) kvCommit(storeID uint64, req *kvrpcpb.CommitRequest) *kvrpcpb.CommitResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.CommitResponse { return &kvrpcpb.CommitResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.CommitResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.CommitResponse{Error: outOfRegionKeyError(k, r)}, nil
			}
			return c.txn.store.Commit(req), nil
		})
}

func (c *Cluster) kvCleanup(storeID uint64, req *kvrpcpb.CleanupRequest) *kvrpcpb.CleanupResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.CleanupResponse { return &kvrpcpb.CleanupResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.CleanupResponse, *errorpb.Error) {
			if !txnKeyInRegion(req.Key, r) {
				return &kvrpcpb.CleanupResponse{Error: outOfRegionKeyError(req.Key, r)}, nil
			}
			return c.txn.store.Cleanup(req), nil
		})
}

func (c *Cluster) kvBatchRollback(storeID uint64, req *kvrpcpb.BatchRollbackRequest) *kvrpcpb.BatchRollbackResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.BatchRollbackResponse {
			return &kvrpcpb.BatchRollbackResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.BatchRollbackResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.BatchRollbackResponse{Error: outOfRegionKeyError(k, r)}, nil
			}
			return c.txn.store.BatchRollback(req), nil
		})
}

func (c *Cluster) kvCheckTxnStatus(storeID uint64, req *kvrpcpb.CheckTxnStatusRequest) *kvrpcpb.CheckTxnStatusResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.CheckTxnStatusResponse {
			return &kvrpcpb.CheckTxnStatusResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.CheckTxnStatusResponse, *errorpb.Error) {
			if !txnKeyInRegion(req.PrimaryKey, r) {
				return &kvrpcpb.CheckTxnStatusResponse{Error: outOfRegionKeyError(req.PrimaryKey, r)}, nil
			}
			return c.txn.store.CheckTxnStatus(req), nil
		})
}

func (c *Cluster) kvCheckSecondaryLocks(storeID uint64, req *kvrpcpb.CheckSecondaryLocksRequest) *kvrpcpb.CheckSecondaryLocksResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.CheckSecondaryLocksResponse {
			return &kvrpcpb.CheckSecondaryLocksResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.CheckSecondaryLocksResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.CheckSecondaryLocksResponse{Error: outOfRegionKeyError(k, r)}, nil
			}
			return c.txn.store.CheckSecondaryLocks(req), nil
		})
}

func (c *Cluster) kvResolveLock(storeID uint64, req *kvrpcpb.ResolveLockRequest) *kvrpcpb.ResolveLockResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.ResolveLockResponse {
			return &kvrpcpb.ResolveLockResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.ResolveLockResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.ResolveLockResponse{Error: outOfRegionKeyError(k, r)}, nil
			}
			return c.txn.store.ResolveLock(req, regionRange(r)), nil
		})
}

func (c *Cluster) kvScanLock(storeID uint64, req *kvrpcpb.ScanLockRequest) *kvrpcpb.ScanLockResponse {
	// Storage::scan_lock forces replica_read off: only the leader serves.
	var rctx kvrpcpb.Context
	if req.Context != nil {
		rctx = *req.Context
	}
	rctx.ReplicaRead = false
	return withRegion(c, storeID, false, &rctx,
		func(e *errorpb.Error) *kvrpcpb.ScanLockResponse { return &kvrpcpb.ScanLockResponse{RegionError: e} },
		func(r *metapb.Region) (*kvrpcpb.ScanLockResponse, *errorpb.Error) {
			// The lock-CF iterator's first seek must land in the region.
			if len(req.StartKey) > 0 {
				if enc := mvcc.EncodeKey(req.StartKey); !keySeekable(enc, r) {
					return nil, keyNotInRegion(enc, r)
				}
			}
			return c.txn.store.ScanLock(req, regionRange(r)), nil
		})
}

func (c *Cluster) kvTxnHeartBeat(storeID uint64, req *kvrpcpb.TxnHeartBeatRequest) *kvrpcpb.TxnHeartBeatResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.TxnHeartBeatResponse {
			return &kvrpcpb.TxnHeartBeatResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.TxnHeartBeatResponse, *errorpb.Error) {
			if !txnKeyInRegion(req.PrimaryLock, r) {
				return &kvrpcpb.TxnHeartBeatResponse{Error: outOfRegionKeyError(req.PrimaryLock, r)}, nil
			}
			return c.txn.store.TxnHeartBeat(req), nil
		})
}

func (c *Cluster) kvPessimisticRollback(storeID uint64, req *kvrpcpb.PessimisticRollbackRequest) *kvrpcpb.PessimisticRollbackResponse {
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.PessimisticRollbackResponse {
			return &kvrpcpb.PessimisticRollbackResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.PessimisticRollbackResponse, *errorpb.Error) {
			if k := firstKeyOutside(req.Keys, r); k != nil {
				return &kvrpcpb.PessimisticRollbackResponse{Errors: []*kvrpcpb.KeyError{outOfRegionKeyError(k, r)}}, nil
			}
			return c.txn.store.PessimisticRollback(req, regionRange(r)), nil
		})
}

// kvDeleteRange is Storage::delete_range: the bounds are Key::from_raw'd
// (so an empty end key is not "unbounded" but sorts first and the apply
// step rejects the range), checked at apply against the region, and, unless
// notify_only, every version in all column families is deleted.
func (c *Cluster) kvDeleteRange(storeID uint64, req *kvrpcpb.DeleteRangeRequest) *kvrpcpb.DeleteRangeResponse {
	if msg := c.apiRangeError(req.Context, "delete_range", req.StartKey, req.EndKey); msg != "" {
		return &kvrpcpb.DeleteRangeResponse{Error: msg}
	}
	return withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.DeleteRangeResponse {
			return &kvrpcpb.DeleteRangeResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.DeleteRangeResponse, *errorpb.Error) {
			start, end := mvcc.EncodeKey(req.StartKey), mvcc.EncodeKey(req.EndKey)
			if bytes.Compare(start, end) >= 0 {
				return nil, &errorpb.Error{Message: fmt.Sprintf("invalid delete range command, start_key: %v, end_key: %v", start, end)}
			}
			if !keyInRegion(start, r) {
				return nil, keyNotInRegion(start, r)
			}
			if endAfter(end, r.EndKey) {
				return nil, keyNotInRegion(end, r)
			}
			if !req.NotifyOnly {
				c.txn.store.DeleteRange(mvcc.Range{Start: start, End: end})
			}
			return &kvrpcpb.DeleteRangeResponse{}, nil
		})
}

// unsafeDestroyRange is the store-level UnsafeDestroyRange
// (gc_worker.rs): no region, epoch or raft; it wipes every column family in
// [from_raw(start), from_raw(end)) across all regions. TiKV asserts both
// keys are non-empty; the mock answers an error instead.
func (c *Cluster) unsafeDestroyRange(_ uint64, req *kvrpcpb.UnsafeDestroyRangeRequest) *kvrpcpb.UnsafeDestroyRangeResponse {
	if len(req.StartKey) == 0 || len(req.EndKey) == 0 {
		return &kvrpcpb.UnsafeDestroyRangeResponse{Error: "unsafe destroy range: start_key and end_key must not be empty"}
	}
	c.txn.store.DeleteRange(mvcc.Range{Start: mvcc.EncodeKey(req.StartKey), End: mvcc.EncodeKey(req.EndKey)})
	return &kvrpcpb.UnsafeDestroyRangeResponse{}
}

func (c *Cluster) mvccGetByKey(storeID uint64, req *kvrpcpb.MvccGetByKeyRequest) *kvrpcpb.MvccGetByKeyResponse {
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.MvccGetByKeyResponse {
			return &kvrpcpb.MvccGetByKeyResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.MvccGetByKeyResponse, *errorpb.Error) {
			if !txnKeyInRegion(req.Key, r) {
				return &kvrpcpb.MvccGetByKeyResponse{Error: outOfRegionRead(mvcc.EncodeKey(req.Key), r)}, nil
			}
			return &kvrpcpb.MvccGetByKeyResponse{Info: c.txn.store.MvccGetByKey(req.Key)}, nil
		})
}

func (c *Cluster) mvccGetByStartTs(storeID uint64, req *kvrpcpb.MvccGetByStartTsRequest) *kvrpcpb.MvccGetByStartTsResponse {
	return withRegion(c, storeID, false, req.Context,
		func(e *errorpb.Error) *kvrpcpb.MvccGetByStartTsResponse {
			return &kvrpcpb.MvccGetByStartTsResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.MvccGetByStartTsResponse, *errorpb.Error) {
			key, info := c.txn.store.MvccGetByStartTs(req.StartTs, regionRange(r))
			return &kvrpcpb.MvccGetByStartTsResponse{Key: key, Info: info}, nil
		})
}
