package middleware

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/transport"
)

// keyDecoder strips the keyspace prefix from a response's keys in place
// (the transport allocated the response for this attempt alone). The first
// key outside the keyspace stops the decoding: err names its field, and the
// response is dropped by Keyspace, so no foreign key is ever returned.
type keyDecoder struct {
	c   *apicodec.Codec
	err error
}

// key decodes one key. An empty key is an absent field (an encoded key is
// never empty: it has at least the prefix), so it stays empty.
func (d *keyDecoder) key(field string, k []byte) []byte {
	if d.err != nil || len(k) == 0 || !d.c.V2() {
		return k
	}
	out, err := d.c.DecodeKey(k)
	if err != nil {
		d.err = outsideField(field)
		return k
	}
	return out
}

func (d *keyDecoder) keys(field string, ks [][]byte) {
	for i := range ks {
		ks[i] = d.key(field, ks[i])
	}
}

func (d *keyDecoder) pairs(ps []*kvrpcpb.KvPair) {
	for _, p := range ps {
		p.Key = d.key("pairs.key", p.Key)
		d.keyError(p.Error)
	}
}

func (d *keyDecoder) lock(l *kvrpcpb.LockInfo) {
	if l == nil {
		return
	}
	l.PrimaryLock, l.Key = d.key("lock.primary_lock", l.PrimaryLock), d.key("lock.key", l.Key)
	d.keys("lock.secondaries", l.Secondaries)
	// A shared lock's holders are LockInfos themselves (TiKV's shared
	// locks), possibly nested.
	for _, s := range l.SharedLockInfos {
		d.lock(s)
	}
}

func (d *keyDecoder) locks(ls []*kvrpcpb.LockInfo) {
	for _, l := range ls {
		d.lock(l)
	}
}

func (d *keyDecoder) mvcc(m *kvrpcpb.MvccInfo) {
	if l := m.GetLock(); l != nil {
		l.Primary = d.key("mvcc.lock.primary", l.Primary)
		d.keys("mvcc.lock.secondaries", l.Secondaries)
	}
}

func (d *keyDecoder) keyError(e *kvrpcpb.KeyError) {
	if e == nil {
		return
	}
	d.lock(e.Locked)
	if x := e.Conflict; x != nil {
		x.Key, x.Primary = d.key("conflict.key", x.Key), d.key("conflict.primary", x.Primary)
	}
	if x := e.AlreadyExist; x != nil {
		x.Key = d.key("already_exist.key", x.Key)
	}
	if x := e.Deadlock; x != nil {
		x.LockKey, x.DeadlockKey = d.key("deadlock.lock_key", x.LockKey), d.key("deadlock.deadlock_key", x.DeadlockKey)
		for _, w := range x.WaitChain {
			w.Key = d.key("deadlock.wait_chain.key", w.Key)
		}
	}
	if x := e.CommitTsExpired; x != nil {
		x.Key = d.key("commit_ts_expired.key", x.Key)
	}
	if x := e.TxnNotFound; x != nil {
		x.PrimaryKey = d.key("txn_not_found.primary_key", x.PrimaryKey)
	}
	if x := e.AssertionFailed; x != nil {
		x.Key = d.key("assertion_failed.key", x.Key)
	}
	if x := e.PrimaryMismatch; x != nil {
		d.lock(x.LockInfo)
	}
	if x := e.TxnLockNotFound; x != nil {
		x.Key = d.key("txn_lock_not_found.key", x.Key)
	}
	for _, m := range e.GetDebugInfo().GetMvccInfo() {
		m.Key = d.key("debug_info.mvcc_info.key", m.Key)
		d.mvcc(m.Mvcc)
	}
}

func (d *keyDecoder) keyErrors(es []*kvrpcpb.KeyError) {
	for _, e := range es {
		d.keyError(e)
	}
}

// lockWaits keeps the entries of the keyspace's own keys. TiKV's
// GetLockWaitInfo reports every waiter of the store's lock manager,
// whatever its keyspace, so another keyspace's entries are expected from an
// honest server: they are dropped, not reported as an error.
func (d *keyDecoder) lockWaits(es []*deadlock.WaitForEntry) []*deadlock.WaitForEntry {
	out := es[:0]
	for _, e := range es {
		if len(e.Key) > 0 && !d.c.InKeyspace(e.Key) {
			continue
		}
		e.Key = d.key("entries.key", e.Key)
		out = append(out, e)
	}
	clear(es[len(out):])
	return out
}

// copResponse decodes a coprocessor response: its lock, the range it
// covered (paging) and the per-task answers of a batched request.
func (d *keyDecoder) copResponse(m *coprocessor.Response) {
	d.lock(m.Locked)
	if r := m.Range; r != nil && d.err == nil && d.c.V2() {
		s, e, err := d.c.DecodeRange(r.Start, r.End)
		if err != nil {
			d.err = outsideField("range")
		}
		r.Start, r.End = s, e
	}
	for _, b := range m.BatchResponses {
		d.lock(b.Locked)
		d.regionError(b.RegionError)
	}
}

// body decodes the keys of a response by command. Every command that
// encodeRequest lets through has its case, the keyless ones included, so a
// command added later cannot slip through undecoded.
func (d *keyDecoder) body(cmd transport.Cmd, msg transport.Message) {
	if desc, ok := cmd.Descriptor(); ok {
		// encodeRequest let a described command through only with both
		// hooks; its response is decoded by its own hook, whatever the
		// message's type.
		if desc.DecodeKeys == nil {
			d.err = outsideField(fmt.Sprintf("%T (no keyspace decoding for %s)", msg, cmd))
		} else if err := desc.DecodeKeys(msg, d.c); err != nil && d.err == nil {
			d.err = outsideField(fmt.Sprintf("%s response (%v)", cmd, err))
		}
		return
	}
	switch m := msg.(type) {
	case *kvrpcpb.RawBatchGetResponse:
		d.pairs(m.Pairs)
	case *kvrpcpb.RawScanResponse:
		d.pairs(m.Kvs)
	case *kvrpcpb.RawBatchScanResponse:
		d.pairs(m.Kvs)
	case *kvrpcpb.RawGetResponse, *kvrpcpb.RawPutResponse, *kvrpcpb.RawBatchPutResponse,
		*kvrpcpb.RawDeleteResponse, *kvrpcpb.RawBatchDeleteResponse, *kvrpcpb.RawDeleteRangeResponse,
		*kvrpcpb.RawGetKeyTTLResponse, *kvrpcpb.RawCASResponse, *kvrpcpb.RawChecksumResponse:
		// Values, counts and checksums only.

	case *kvrpcpb.GetResponse:
		d.keyError(m.Error)
	case *kvrpcpb.ScanResponse:
		d.pairs(m.Pairs)
		d.keyError(m.Error)
	case *kvrpcpb.BatchGetResponse:
		d.pairs(m.Pairs)
		d.keyError(m.Error)
	case *kvrpcpb.BufferBatchGetResponse:
		d.pairs(m.Pairs)
		d.keyError(m.Error)
	case *kvrpcpb.PrewriteResponse:
		d.keyErrors(m.Errors)
	case *kvrpcpb.FlushResponse:
		d.keyErrors(m.Errors)
	case *kvrpcpb.PessimisticLockResponse:
		d.keyErrors(m.Errors)
	case *kvrpcpb.PessimisticRollbackResponse:
		d.keyErrors(m.Errors)
	case *kvrpcpb.CommitResponse:
		d.keyError(m.Error)
	case *kvrpcpb.CleanupResponse:
		d.keyError(m.Error)
	case *kvrpcpb.BatchRollbackResponse:
		d.keyError(m.Error)
	case *kvrpcpb.ScanLockResponse:
		d.keyError(m.Error)
		d.locks(m.Locks)
	case *kvrpcpb.ResolveLockResponse:
		d.keyError(m.Error)
	case *kvrpcpb.CheckTxnStatusResponse:
		d.keyError(m.Error)
		d.lock(m.LockInfo)
	case *kvrpcpb.CheckSecondaryLocksResponse:
		d.keyError(m.Error)
		d.locks(m.Locks)
	case *kvrpcpb.TxnHeartBeatResponse:
		d.keyError(m.Error)
	case *kvrpcpb.DeleteRangeResponse, *kvrpcpb.PrepareFlashbackToVersionResponse,
		*kvrpcpb.FlashbackToVersionResponse, *kvrpcpb.UnsafeDestroyRangeResponse,
		*kvrpcpb.StoreSafeTSResponse, *kvrpcpb.GetHealthFeedbackResponse, *kvrpcpb.BroadcastTxnStatusResponse:
		// Error strings, timestamps and health only.

	case *kvrpcpb.MvccGetByKeyResponse:
		d.mvcc(m.Info)
	case *kvrpcpb.MvccGetByStartTsResponse:
		m.Key = d.key("key", m.Key)
		d.mvcc(m.Info)
	case *kvrpcpb.SplitRegionResponse:
		m.Regions = decodeRegions(d.c, m.Regions)
		m.Left, m.Right = decodeRegion(d.c, m.Left), decodeRegion(d.c, m.Right)
		d.keyErrors(m.Errors)
	case *kvrpcpb.GetLockWaitInfoResponse:
		m.Entries = d.lockWaits(m.Entries)
	case *coprocessor.Response:
		d.copResponse(m)
	default:
		// Unreachable while encodeRequest and this switch agree; if they
		// ever do not, the response is withheld rather than passed on.
		if d.err == nil {
			d.err = outsideField(fmt.Sprintf("%T (no keyspace decoding for %s)", msg, cmd))
		}
	}
}

// regionError decodes the keys and regions inside TiKV's region errors, so
// the region cache learns logical boundaries. Regions outside the keyspace
// are legitimate (a neighbour's regions after a split or merge) and are
// dropped; a key outside it is not.
func (d *keyDecoder) regionError(e *errorpb.Error) {
	if e == nil {
		return
	}
	if x := e.EpochNotMatch; x != nil {
		x.CurrentRegions = decodeRegions(d.c, x.CurrentRegions)
	}
	if x := e.KeyNotInRegion; x != nil {
		x.Key = d.key("region_error.key_not_in_region.key", x.Key)
		// The region TiKV names may by now lie outside the keyspace; its
		// boundaries are then withheld, not passed on encoded.
		r := decodeRegion(d.c, &metapb.Region{StartKey: x.StartKey, EndKey: x.EndKey})
		x.StartKey, x.EndKey = r.GetStartKey(), r.GetEndKey()
	}
	if x := e.BucketVersionNotMatch; x != nil {
		// Bucket boundaries come in the stored form of region boundaries;
		// the region cache keeps logical ones (pdclient decodes PD's the
		// same way). Undecodable boundaries are withheld, not passed on
		// encoded: the new version is still recorded, without keys.
		keys, err := d.c.DecodeBucketKeys(x.Keys)
		if err != nil {
			keys = nil
		}
		x.Keys = keys
	}
}

func decodeRegion(c *apicodec.Codec, r *metapb.Region) *metapb.Region {
	if r == nil {
		return nil
	}
	out, err := c.DecodeRegion(r)
	if err != nil {
		return nil
	}
	return out
}

// decodeRegions decodes regions, dropping those outside the keyspace.
func decodeRegions(c *apicodec.Codec, rs []*metapb.Region) []*metapb.Region {
	out := rs[:0:0]
	for _, r := range rs {
		if d := decodeRegion(c, r); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// decodeResponse decodes a response in place and reports the first key
// outside the keyspace. Under API v1 only region boundaries change.
func decodeResponse(c *apicodec.Codec, cmd transport.Cmd, msg transport.Message) error {
	d := &keyDecoder{c: c}
	if c.V2() {
		d.body(cmd, msg)
	}
	if re, ok := msg.(interface{ GetRegionError() *errorpb.Error }); ok {
		d.regionError(re.GetRegionError())
	}
	return d.err
}
