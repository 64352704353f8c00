package middleware

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/transport"
)

// keyEncoder copies request fields with the keyspace prefix added.
type keyEncoder struct{ c *apicodec.Codec }

func (e keyEncoder) key(k []byte) []byte { return e.c.EncodeKey(k) }

func (e keyEncoder) keys(ks [][]byte) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = e.c.EncodeKey(k)
	}
	return out
}

// bounds encodes a range; an empty end is the keyspace's end. Reverse scans
// carry their upper bound in start_key (TiKV's RawScan and KvScan with
// reverse set), so the roles swap.
func (e keyEncoder) bounds(start, end []byte, reverse bool) ([]byte, []byte) {
	if reverse {
		return e.c.EncodeEnd(start), e.c.EncodeKey(end)
	}
	return e.c.EncodeKey(start), e.c.EncodeEnd(end)
}

func (e keyEncoder) kvRange(r *kvrpcpb.KeyRange, reverse bool) *kvrpcpb.KeyRange {
	out := &kvrpcpb.KeyRange{}
	out.StartKey, out.EndKey = e.bounds(r.GetStartKey(), r.GetEndKey(), reverse)
	return out
}

func (e keyEncoder) kvRanges(rs []*kvrpcpb.KeyRange, reverse bool) []*kvrpcpb.KeyRange {
	out := make([]*kvrpcpb.KeyRange, len(rs))
	for i, r := range rs {
		out[i] = e.kvRange(r, reverse)
	}
	return out
}

func (e keyEncoder) copRanges(rs []*coprocessor.KeyRange) []*coprocessor.KeyRange {
	out := make([]*coprocessor.KeyRange, len(rs))
	for i, r := range rs {
		out[i] = &coprocessor.KeyRange{}
		out[i].Start, out[i].End = e.bounds(r.GetStart(), r.GetEnd(), false)
	}
	return out
}

func (e keyEncoder) versionedRanges(rs []*coprocessor.VersionedKeyRange) []*coprocessor.VersionedKeyRange {
	out := make([]*coprocessor.VersionedKeyRange, len(rs))
	for i, r := range rs {
		cp := *r
		cp.Range = e.copRanges([]*coprocessor.KeyRange{r.GetRange()})[0]
		out[i] = &cp
	}
	return out
}

func (e keyEncoder) mutations(ms []*kvrpcpb.Mutation) []*kvrpcpb.Mutation {
	out := make([]*kvrpcpb.Mutation, len(ms))
	for i, m := range ms {
		cp := *m
		cp.Key = e.c.EncodeKey(m.Key)
		out[i] = &cp
	}
	return out
}

func (e keyEncoder) pairs(ps []*kvrpcpb.KvPair) []*kvrpcpb.KvPair {
	out := make([]*kvrpcpb.KvPair, len(ps))
	for i, p := range ps {
		cp := *p
		cp.Key = e.c.EncodeKey(p.Key)
		out[i] = &cp
	}
	return out
}

// copyAs returns a shallow copy of msg as the request type T, or an error
// when msg is not of the type cmd carries.
// (On error the caller's typed nil is never used: Keyspace checks err.)
func copyAs[T any, PT interface {
	*T
	transport.Message
}](cmd transport.Cmd, msg transport.Message) (*T, error) {
	m, ok := msg.(PT)
	if !ok || m == nil {
		return nil, fmt.Errorf("%s request is a %T", cmd, msg)
	}
	cp := *(*T)(m)
	return &cp, nil
}

// encodeRequest returns a copy of msg in which every key carries the
// keyspace prefix, or a refusal (the reason) for a command that cannot be
// confined to the keyspace. Every command of transport's command table has
// its case: a command added there without one is refused, never sent as it
// is (keyspace_test.go walks the table).
func encodeRequest(c *apicodec.Codec, cmd transport.Cmd, msg transport.Message) (transport.Message, error) {
	if d, ok := cmd.Descriptor(); ok {
		if d.EncodeKeys == nil {
			return nil, refuse("described command without keyspace key hooks (transport.CmdDesc EncodeKeys and DecodeKeys)")
		}
		return d.EncodeKeys(msg, c)
	}
	e := keyEncoder{c}
	switch cmd {
	case transport.CmdRawGet:
		m, err := copyAs[kvrpcpb.RawGetRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdRawBatchGet:
		m, err := copyAs[kvrpcpb.RawBatchGetRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdRawPut:
		m, err := copyAs[kvrpcpb.RawPutRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdRawBatchPut:
		m, err := copyAs[kvrpcpb.RawBatchPutRequest](cmd, msg)
		if err == nil {
			m.Pairs = e.pairs(m.Pairs)
		}
		return m, err
	case transport.CmdRawDelete:
		m, err := copyAs[kvrpcpb.RawDeleteRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdRawBatchDelete:
		m, err := copyAs[kvrpcpb.RawBatchDeleteRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdRawScan:
		m, err := copyAs[kvrpcpb.RawScanRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, m.Reverse)
		}
		return m, err
	case transport.CmdRawDeleteRange:
		m, err := copyAs[kvrpcpb.RawDeleteRangeRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdRawBatchScan:
		m, err := copyAs[kvrpcpb.RawBatchScanRequest](cmd, msg)
		if err == nil {
			m.Ranges = e.kvRanges(m.Ranges, m.Reverse)
		}
		return m, err
	case transport.CmdRawGetKeyTTL:
		m, err := copyAs[kvrpcpb.RawGetKeyTTLRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdRawCompareAndSwap:
		m, err := copyAs[kvrpcpb.RawCASRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdRawChecksum:
		m, err := copyAs[kvrpcpb.RawChecksumRequest](cmd, msg)
		if err == nil {
			m.Ranges = e.kvRanges(m.Ranges, false)
		}
		return m, err

	case transport.CmdGet:
		m, err := copyAs[kvrpcpb.GetRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdScan:
		m, err := copyAs[kvrpcpb.ScanRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, m.Reverse)
		}
		return m, err
	case transport.CmdBatchGet:
		m, err := copyAs[kvrpcpb.BatchGetRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdBufferBatchGet:
		m, err := copyAs[kvrpcpb.BufferBatchGetRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdPrewrite:
		m, err := copyAs[kvrpcpb.PrewriteRequest](cmd, msg)
		if err == nil {
			m.Mutations, m.PrimaryLock, m.Secondaries = e.mutations(m.Mutations), e.key(m.PrimaryLock), e.keys(m.Secondaries)
		}
		return m, err
	case transport.CmdFlush:
		m, err := copyAs[kvrpcpb.FlushRequest](cmd, msg)
		if err == nil {
			m.Mutations, m.PrimaryKey = e.mutations(m.Mutations), e.key(m.PrimaryKey)
		}
		return m, err
	case transport.CmdPessimisticLock:
		m, err := copyAs[kvrpcpb.PessimisticLockRequest](cmd, msg)
		if err == nil {
			m.Mutations, m.PrimaryLock = e.mutations(m.Mutations), e.key(m.PrimaryLock)
		}
		return m, err
	case transport.CmdPessimisticRollback:
		m, err := copyAs[kvrpcpb.PessimisticRollbackRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdCommit:
		m, err := copyAs[kvrpcpb.CommitRequest](cmd, msg)
		if err == nil {
			m.Keys, m.PrimaryKey = e.keys(m.Keys), e.key(m.PrimaryKey)
		}
		return m, err
	case transport.CmdCleanup:
		m, err := copyAs[kvrpcpb.CleanupRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdBatchRollback:
		m, err := copyAs[kvrpcpb.BatchRollbackRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdScanLock:
		m, err := copyAs[kvrpcpb.ScanLockRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdResolveLock:
		// Without keys TiKV resolves every lock of the named transactions
		// in the region. Start timestamps come from the cluster-wide TSO,
		// so only the keyspace that wrote a transaction holds its locks;
		// but a caller naming another keyspace's start ts would reach that
		// keyspace's locks in a region the two share (PD normally splits
		// regions at keyspace boundaries). client-go sends it the same
		// way, and lock resolution needs the keyless form.
		m, err := copyAs[kvrpcpb.ResolveLockRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdCheckTxnStatus:
		m, err := copyAs[kvrpcpb.CheckTxnStatusRequest](cmd, msg)
		if err == nil {
			m.PrimaryKey = e.key(m.PrimaryKey)
		}
		return m, err
	case transport.CmdCheckSecondaryLocks:
		m, err := copyAs[kvrpcpb.CheckSecondaryLocksRequest](cmd, msg)
		if err == nil {
			m.Keys = e.keys(m.Keys)
		}
		return m, err
	case transport.CmdTxnHeartBeat:
		m, err := copyAs[kvrpcpb.TxnHeartBeatRequest](cmd, msg)
		if err == nil {
			m.PrimaryLock = e.key(m.PrimaryLock)
		}
		return m, err
	case transport.CmdDeleteRange:
		m, err := copyAs[kvrpcpb.DeleteRangeRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdPrepareFlashbackToVersion:
		// An empty range would be the whole cluster, every keyspace.
		m, err := copyAs[kvrpcpb.PrepareFlashbackToVersionRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdFlashbackToVersion:
		m, err := copyAs[kvrpcpb.FlashbackToVersionRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdGC:
		// KvGC has no key range: it collects every key of the region up to
		// the safe point, whichever keyspace it belongs to (client-go
		// passes it through unchanged; TiKV deprecated it in favour of GC
		// driven by the safe point).
		return nil, refuse("KvGC works on whole regions, across keyspaces")

	case transport.CmdUnsafeDestroyRange:
		m, err := copyAs[kvrpcpb.UnsafeDestroyRangeRequest](cmd, msg)
		if err == nil {
			m.StartKey, m.EndKey = e.bounds(m.StartKey, m.EndKey, false)
		}
		return m, err
	case transport.CmdSplitRegion:
		m, err := copyAs[kvrpcpb.SplitRegionRequest](cmd, msg)
		if err == nil {
			if len(m.SplitKey) > 0 {
				m.SplitKey = e.key(m.SplitKey)
			}
			m.SplitKeys = e.keys(m.SplitKeys)
		}
		return m, err
	case transport.CmdMvccGetByKey:
		m, err := copyAs[kvrpcpb.MvccGetByKeyRequest](cmd, msg)
		if err == nil {
			m.Key = e.key(m.Key)
		}
		return m, err
	case transport.CmdStoreSafeTS:
		// An absent range means every region of the store; confine it.
		m, err := copyAs[kvrpcpb.StoreSafeTSRequest](cmd, msg)
		if err == nil {
			m.KeyRange = e.kvRange(m.KeyRange, false)
		}
		return m, err
	case transport.CmdCoprocessor:
		m, err := copyAs[coprocessor.Request](cmd, msg)
		if err != nil {
			return nil, err
		}
		if len(m.TableShardInfos) > 0 {
			// Shard ranges address TiCI's index shards, not keyspace keys.
			return nil, refuse("coprocessor requests with table shard infos are not confined to a keyspace")
		}
		m.Ranges, m.VersionedRanges = e.copRanges(m.Ranges), e.versionedRanges(m.VersionedRanges)
		tasks := make([]*coprocessor.StoreBatchTask, len(m.Tasks))
		for i, t := range m.Tasks {
			cp := *t
			cp.Ranges, cp.VersionedRanges = e.copRanges(t.Ranges), e.versionedRanges(t.VersionedRanges)
			tasks[i] = &cp
		}
		m.Tasks = tasks
		return m, nil

	case transport.CmdMvccGetByStartTs, transport.CmdGetLockWaitInfo, transport.CmdGetHealthFeedback,
		transport.CmdBroadcastTxnStatus:
		// No key in the request; the response's keys are checked.
		return msg, nil
	}
	return nil, refuse("no keyspace encoding for this command")
}

// refusal is the reason a command is refused; Keyspace wraps it in a
// KeyspaceRefusedError.
type refusal string

func (r refusal) Error() string { return string(r) }

func refuse(reason string) error { return refusal(reason) }
