package kv_test

import (
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/plans"
)

// A key error's MVCC debug info reaches the caller on the typed error and
// renders as client-go's JSON, keys and values redacted on request; a key
// error without one renders as "".
//
// ports client-go's TestExtractDebugInfoStrFromKeyErr (error/error_test.go)
func TestDebugInfoJSON(t *testing.T) {
	notFound := &kvrpcpb.TxnLockNotFound{Key: []byte("byte")}
	var lnf *kv.TxnLockNotFoundError
	if err := plans.KeyError(&kvrpcpb.KeyError{TxnLockNotFound: notFound}); !errors.As(err, &lnf) ||
		lnf.DebugInfo != nil || kv.DebugInfoJSON(lnf.DebugInfo, false) != "" {
		t.Fatalf("key error without debug info: %v", err)
	}
	info := &kvrpcpb.DebugInfo{MvccInfo: []*kvrpcpb.MvccDebugInfo{{
		Key: []byte("byte"),
		Mvcc: &kvrpcpb.MvccInfo{
			Lock: &kvrpcpb.MvccLock{
				Type: kvrpcpb.Op_Del, StartTs: 128, Primary: []byte("k1"),
				Secondaries: [][]byte{[]byte("k1"), []byte("k2")}, ShortValue: []byte("v1"),
			},
			Writes: []*kvrpcpb.MvccWrite{{
				Type: kvrpcpb.Op_Insert, StartTs: 64, CommitTs: 86, ShortValue: []byte{1, 2, 3, 4, 5, 6},
			}},
			Values: []*kvrpcpb.MvccValue{{StartTs: 64, Value: []byte{0x11, 0x12}}},
		},
	}}}
	err := plans.KeyError(&kvrpcpb.KeyError{TxnLockNotFound: notFound, DebugInfo: info})
	if !errors.As(err, &lnf) || lnf.DebugInfo != info {
		t.Fatalf("the typed error lost the debug info: %v", err)
	}
	const plain = `{"mvcc_info":[{"key":"Ynl0ZQ==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"azE=","short_value":"djE=","secondaries":["azE=","azI="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"AQIDBAUG"}],"values":[{"start_ts":64,"value":"ERI="}]}}]}`
	if got := kv.DebugInfoJSON(lnf.DebugInfo, false); got != plain {
		t.Errorf("plain:\n got %s\nwant %s", got, plain)
	}
	const redacted = `{"mvcc_info":[{"key":"Pw==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"Pw==","short_value":"Pw==","secondaries":["Pw==","Pw=="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"Pw=="}],"values":[{"start_ts":64,"value":"Pw=="}]}}]}`
	if got := kv.DebugInfoJSON(lnf.DebugInfo, true); got != redacted {
		t.Errorf("redacted:\n got %s\nwant %s", got, redacted)
	}
	if string(info.MvccInfo[0].Key) != "byte" || string(info.MvccInfo[0].Mvcc.Lock.Secondaries[1]) != "k2" {
		t.Error("redacting changed the error's own debug info")
	}
	if s := err.Error(); s != `tikv: transaction lock not found on key "byte"` {
		t.Errorf("Error() = %q: the debug info must stay out of the message", s)
	}
}
