package plans_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

var lockInfo = &kvrpcpb.LockInfo{
	PrimaryLock: []byte("p"), LockVersion: 5, Key: []byte("k"), LockTtl: 3000, TxnSize: 2,
	LockType: kvrpcpb.Op_Put, LockForUpdateTs: 6, UseAsyncCommit: true, MinCommitTs: 7,
	Secondaries: [][]byte{[]byte("s1"), []byte("s2")}, DurationToLastUpdateMs: 40, IsTxnFile: true,
}

var wantLock = &kv.Lock{
	Key: kv.Key("k"), Primary: kv.Key("p"), StartTS: 5, TTL: 3 * time.Second, TxnSize: 2, Type: kvrpcpb.Op_Put,
	ForUpdateTS: 6, UseAsyncCommit: true, MinCommitTS: 7, Secondaries: []kv.Key{kv.Key("s1"), kv.Key("s2")},
	SinceLastUpdate: 40 * time.Millisecond, IsTxnFile: true,
}

// keyErrorCase is one KeyError field: the error TiKV sends, the typed
// error it must map to, and the sentinels it must (and must not) match.
type keyErrorCase struct {
	in       *kvrpcpb.KeyError
	want     error
	is       []error
	retrying bool // errors.Is(err, kv.ErrTxnRetryable)
}

var waitChain = []*deadlock.WaitForEntry{{Txn: 1, WaitForTxn: 2, Key: []byte("a")}, {Txn: 2, WaitForTxn: 1, Key: []byte("b")}}

// keyErrorCases is keyed by the KeyError field each case sets.
var keyErrorCases = map[string]keyErrorCase{
	"Locked": {
		in:   &kvrpcpb.KeyError{Locked: lockInfo},
		want: &kv.LockedError{Locks: []*kv.Lock{wantLock}}, is: []error{kv.ErrKeyLocked},
	},
	"Retryable": {
		in:   &kvrpcpb.KeyError{Retryable: "Error(Txn(...))"},
		want: &kv.RetryableError{Msg: "Error(Txn(...))"}, retrying: true,
	},
	"Abort": {
		in:   &kvrpcpb.KeyError{Abort: "Error(Txn(Error(InvalidTxnTso ...)))"},
		want: &kv.AbortError{Msg: "Error(Txn(Error(InvalidTxnTso ...)))"},
	},
	"Conflict": {
		// TiKV sets retryable beside conflict; the specific field wins.
		in: &kvrpcpb.KeyError{Retryable: "WriteConflict", Conflict: &kvrpcpb.WriteConflict{
			StartTs: 10, ConflictTs: 8, Key: []byte("k"), Primary: []byte("p"), ConflictCommitTs: 9,
			Reason: kvrpcpb.WriteConflict_Optimistic,
		}},
		want: &kv.WriteConflictError{StartTS: 10, ConflictStartTS: 8, ConflictCommitTS: 9, Key: kv.Key("k"),
			Primary: kv.Key("p"), Reason: kvrpcpb.WriteConflict_Optimistic},
		is: []error{kv.ErrWriteConflict}, retrying: true,
	},
	"AlreadyExist": {
		in:   &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: []byte("k")}},
		want: &kv.AlreadyExistError{Key: kv.Key("k")}, is: []error{kv.ErrKeyExists},
	},
	"Deadlock": {
		in: &kvrpcpb.KeyError{Deadlock: &kvrpcpb.Deadlock{LockTs: 3, LockKey: []byte("a"), DeadlockKeyHash: 99,
			WaitChain: waitChain, DeadlockKey: []byte("b")}},
		want: &kv.DeadlockError{LockTS: 3, LockKey: kv.Key("a"), DeadlockKeyHash: 99, DeadlockKey: kv.Key("b"), WaitChain: waitChain},
		is:   []error{kv.ErrDeadlock}, retrying: true,
	},
	"CommitTsExpired": {
		in:   &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{StartTs: 5, AttemptedCommitTs: 6, Key: []byte("k"), MinCommitTs: 8}},
		want: &kv.CommitTSExpiredError{StartTS: 5, AttemptedCommitTS: 6, Key: kv.Key("k"), MinCommitTS: 8},
	},
	"TxnNotFound": {
		in:   &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: 5, PrimaryKey: []byte("p")}},
		want: &kv.TxnNotFoundError{StartTS: 5, PrimaryKey: kv.Key("p")}, is: []error{kv.ErrTxnNotFound},
	},
	"CommitTsTooLarge": {
		in:   &kvrpcpb.KeyError{CommitTsTooLarge: &kvrpcpb.CommitTsTooLarge{CommitTs: 100}},
		want: &kv.CommitTSTooLargeError{CommitTS: 100},
	},
	"AssertionFailed": {
		in: &kvrpcpb.KeyError{AssertionFailed: &kvrpcpb.AssertionFailed{StartTs: 5, Key: []byte("k"),
			Assertion: kvrpcpb.Assertion_NotExist, ExistingStartTs: 2, ExistingCommitTs: 3}},
		want: &kv.AssertionFailedError{StartTS: 5, Key: kv.Key("k"), Assertion: kvrpcpb.Assertion_NotExist,
			ExistingStartTS: 2, ExistingCommitTS: 3},
		is: []error{kv.ErrAssertionFailed},
	},
	"PrimaryMismatch": {
		in:   &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: lockInfo}},
		want: &kv.PrimaryMismatchError{Lock: wantLock},
	},
	"TxnLockNotFound": {
		// TiKV sets retryable beside txn_lock_not_found.
		in:   &kvrpcpb.KeyError{Retryable: "TxnLockNotFound", TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: []byte("k")}},
		want: &kv.TxnLockNotFoundError{Key: kv.Key("k")}, retrying: true,
	},
}

var allSentinels = []error{kv.ErrKeyLocked, kv.ErrWriteConflict, kv.ErrKeyExists, kv.ErrDeadlock, kv.ErrTxnNotFound, kv.ErrAssertionFailed}

// TestKeyErrorCasesCoverEveryField fails when kvproto's KeyError gains a
// field this client does not map (DebugInfo carries no error of its own).
func TestKeyErrorCasesCoverEveryField(t *testing.T) {
	typ := reflect.TypeFor[kvrpcpb.KeyError]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if strings.HasPrefix(f.Name, "XXX_") || f.Name == "DebugInfo" {
			continue
		}
		if _, ok := keyErrorCases[f.Name]; !ok {
			t.Errorf("KeyError.%s has no mapping case", f.Name)
		}
	}
}

func TestKeyErrorMapsEveryField(t *testing.T) {
	for field, tc := range keyErrorCases {
		err := plans.KeyError(tc.in)
		require.Equal(t, tc.want, err, field)
		msg := err.Error()
		require.NotContains(t, msg, "\n", field)
		require.True(t, strings.HasPrefix(msg, "tikv: "), "%s: %q", field, msg)
		require.Equal(t, tc.retrying, errors.Is(err, kv.ErrTxnRetryable), "%s: ErrTxnRetryable", field)
		for _, s := range allSentinels {
			want := false
			for _, w := range tc.is {
				want = want || w == s
			}
			require.Equal(t, want, errors.Is(err, s), "%s: errors.Is %v", field, s)
		}
		// errors.As reaches the typed error through wrapping.
		wrapped := errors.Join(errors.New("context"), err)
		target := reflect.New(reflect.TypeOf(tc.want))
		require.True(t, errors.As(wrapped, target.Interface()), field)
	}
	require.NoError(t, plans.KeyError(nil))
	var ae *kv.AbortError
	require.ErrorAs(t, plans.KeyError(&kvrpcpb.KeyError{DebugInfo: &kvrpcpb.DebugInfo{}}), &ae, "a key error with no known field")
}

func TestKeyErrorsCollectsLocks(t *testing.T) {
	other := &kvrpcpb.LockInfo{PrimaryLock: []byte("p2"), LockVersion: 9, Key: []byte("k2")}
	err := plans.KeyErrors([]*kvrpcpb.KeyError{{Locked: lockInfo}, nil, {Locked: other}})
	var le *kv.LockedError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Locks, 2)
	require.Equal(t, wantLock, le.Locks[0])
	require.Equal(t, kv.Key("k2"), le.Locks[1].Key)
	require.Equal(t, uint64(9), le.Locks[1].StartTS)
	require.Contains(t, err.Error(), "2 keys locked")

	// Any other error decides the request, wherever it stands.
	err = plans.KeyErrors([]*kvrpcpb.KeyError{{Locked: lockInfo}, {AlreadyExist: &kvrpcpb.AlreadyExist{Key: []byte("x")}}})
	require.ErrorIs(t, err, kv.ErrKeyExists)
	require.NotErrorIs(t, err, kv.ErrKeyLocked)

	require.NoError(t, plans.KeyErrors(nil))
	require.NoError(t, plans.KeyErrors([]*kvrpcpb.KeyError{nil}))
}

func TestKeyErrMappers(t *testing.T) {
	require.NoError(t, plans.KeyErr[*kvrpcpb.CommitResponse]()(&kvrpcpb.CommitResponse{}))
	require.ErrorIs(t, plans.KeyErr[*kvrpcpb.CommitResponse]()(&kvrpcpb.CommitResponse{
		Error: &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{}},
	}), kv.ErrTxnNotFound)

	require.NoError(t, plans.KeyErrs[*kvrpcpb.PrewriteResponse]()(&kvrpcpb.PrewriteResponse{}))
	var le *kv.LockedError
	require.ErrorAs(t, plans.KeyErrs[*kvrpcpb.PrewriteResponse]()(&kvrpcpb.PrewriteResponse{
		Errors: []*kvrpcpb.KeyError{{Locked: lockInfo}, {Locked: lockInfo}},
	}), &le)
	require.Len(t, le.Locks, 2)

	batchGet := plans.PairKeyErrs((*kvrpcpb.BatchGetResponse).GetPairs)
	require.NoError(t, batchGet(&kvrpcpb.BatchGetResponse{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("1")}}}))
	// Locked keys are keyless pairs; every lock is reported.
	err := batchGet(&kvrpcpb.BatchGetResponse{Pairs: []*kvrpcpb.KvPair{
		{Key: []byte("a"), Value: []byte("1")},
		{Error: &kvrpcpb.KeyError{Locked: lockInfo}},
		{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: []byte("b")}}},
	}})
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Locks, 2)
	// The request-level error wins over the pairs'.
	err = batchGet(&kvrpcpb.BatchGetResponse{
		Error: &kvrpcpb.KeyError{Abort: "api version"},
		Pairs: []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: "api version"}}},
	})
	var ae *kv.AbortError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "api version", ae.Msg)
}

func TestStringAndPairsErr(t *testing.T) {
	f := plans.StringErr[*kvrpcpb.RawPutResponse](transport.CmdRawPut)
	require.NoError(t, f(&kvrpcpb.RawPutResponse{}))
	var se *kv.ServerError
	require.ErrorAs(t, f(&kvrpcpb.RawPutResponse{Error: "invalid cf name: x"}), &se)
	require.Equal(t, kv.ServerError{Cmd: "RawPut", Msg: "invalid cf name: x"}, *se)

	p := plans.PairsErr(transport.CmdRawScan, (*kvrpcpb.RawScanResponse).GetKvs)
	require.NoError(t, p(&kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Key: []byte("a")}}}))
	require.ErrorAs(t, p(&kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: "Invalid KeyRanges"}}}}), &se)
	require.Equal(t, kv.ServerError{Cmd: "RawScan", Msg: "Invalid KeyRanges"}, *se)
}

func TestCoprocessorErr(t *testing.T) {
	f := plans.CoprocessorErr(transport.CmdCoprocessor)
	require.NoError(t, f(&coprocessor.Response{}))
	var le *kv.LockedError
	require.ErrorAs(t, f(&coprocessor.Response{Locked: lockInfo}), &le)
	require.Equal(t, []*kv.Lock{wantLock}, le.Locks)
	var se *kv.ServerError
	require.ErrorAs(t, f(&coprocessor.Response{OtherError: "bad dag"}), &se)
	require.Equal(t, "Coprocessor", se.Cmd)
}

// TestRegionError: the kinds pipeline.Retry returns as fatal are fatal;
// the ones it re-routes are not.
func TestRegionError(t *testing.T) {
	require.Nil(t, plans.RegionError(1, nil))
	for e, fatal := range map[*errorpb.Error]bool{
		{EpochNotMatch: &errorpb.EpochNotMatch{}}:                 false,
		{NotLeader: &errorpb.NotLeader{}}:                         false,
		{RegionNotFound: &errorpb.RegionNotFound{}}:               false,
		{KeyNotInRegion: &errorpb.KeyNotInRegion{}}:               false,
		{ServerIsBusy: &errorpb.ServerIsBusy{}}:                   false,
		{StaleCommand: &errorpb.StaleCommand{}}:                   false,
		{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}:         true,
		{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}:   true,
		{FlashbackInProgress: &errorpb.FlashbackInProgress{}}:     true,
		{UndeterminedResult: &errorpb.UndeterminedResult{}}:       true,
		{Message: "invalid max_ts update: requested 5 > limit 3"}: true,
	} {
		re := plans.RegionError(7, e)
		require.Equal(t, uint64(7), re.RegionID)
		require.Same(t, e, re.Err)
		require.Equal(t, fatal, re.Fatal, "%s", kv.RegionErrorKind(e))
		require.Contains(t, re.Error(), "region 7")
	}
}
