package kv

import (
	"encoding/json"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// DebugInfoJSON renders the MVCC debug info TiKV attaches to a key error
// (TxnLockNotFoundError.DebugInfo) as one line of JSON for a log, in
// client-go's shape (its ExtractDebugInfoStrFromKeyErr), so that the line
// reads the same whichever client wrote it. With redact, every key and
// value in it is replaced by "?" (TiDB's redact-log mode), so that the
// line carries no user data. It returns "" for nil.
func DebugInfoJSON(info *kvrpcpb.DebugInfo, redact bool) string {
	if info == nil {
		return ""
	}
	if redact {
		info = proto.Clone(info).(*kvrpcpb.DebugInfo)
		mark := []byte{'?'}
		for _, m := range info.MvccInfo {
			m.Key = mark
			mvcc := m.GetMvcc()
			if mvcc == nil {
				continue
			}
			if l := mvcc.Lock; l != nil {
				l.Primary, l.ShortValue = mark, mark
				for i := range l.Secondaries {
					l.Secondaries[i] = mark
				}
			}
			for _, w := range mvcc.Writes {
				if w != nil {
					w.ShortValue = mark
				}
			}
			for _, v := range mvcc.Values {
				if v != nil {
					v.Value = mark
				}
			}
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		// The generated struct always marshals; keep a log line useful
		// rather than fail the caller if that ever changes.
		return `{"error":` + jsonString(err.Error()) + `}`
	}
	return string(b)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
