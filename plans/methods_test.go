package plans_test

import (
	"reflect"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

// methodRow is what the table test needs of one exported Method.
type methodRow struct {
	name             string
	cmd              transport.Cmd
	req, resp        reflect.Type
	read, idempotent bool
	hasErr           bool
}

func row[Req, Resp transport.Message](name string, m pipeline.Method[Req, Resp]) methodRow {
	return methodRow{
		name: name, cmd: m.Cmd, req: reflect.TypeFor[Req](), resp: reflect.TypeFor[Resp](),
		read: m.Read, idempotent: m.Idempotent, hasErr: m.Err != nil,
	}
}

// exportedMethods lists every Method package plans exports.
func exportedMethods() []methodRow {
	return []methodRow{
		row("RawGet", plans.RawGet), row("RawBatchGet", plans.RawBatchGet), row("RawPut", plans.RawPut),
		row("RawBatchPut", plans.RawBatchPut), row("RawDelete", plans.RawDelete), row("RawBatchDelete", plans.RawBatchDelete),
		row("RawDeleteRange", plans.RawDeleteRange), row("RawScan", plans.RawScan), row("RawBatchScan", plans.RawBatchScan), row("RawGetKeyTTL", plans.RawGetKeyTTL),
		row("RawCompareAndSwap", plans.RawCompareAndSwap), row("RawChecksum", plans.RawChecksum),

		row("KvGet", plans.KvGet), row("KvScan", plans.KvScan), row("KvBatchGet", plans.KvBatchGet),
		row("KvBufferBatchGet", plans.KvBufferBatchGet), row("KvScanLock", plans.KvScanLock),
		row("KvPrewrite", plans.KvPrewrite), row("KvFlush", plans.KvFlush), row("KvPessimisticLock", plans.KvPessimisticLock),
		row("KvPessimisticRollback", plans.KvPessimisticRollback), row("KvTxnHeartBeat", plans.KvTxnHeartBeat),
		row("KvCheckTxnStatus", plans.KvCheckTxnStatus), row("KvCheckSecondaryLocks", plans.KvCheckSecondaryLocks),
		row("KvCommit", plans.KvCommit), row("KvCleanup", plans.KvCleanup), row("KvBatchRollback", plans.KvBatchRollback),
		row("KvResolveLock", plans.KvResolveLock), row("KvGC", plans.KvGC), row("KvDeleteRange", plans.KvDeleteRange),
		row("KvPrepareFlashbackToVersion", plans.KvPrepareFlashbackToVersion), row("KvFlashbackToVersion", plans.KvFlashbackToVersion),

		row("UnsafeDestroyRange", plans.UnsafeDestroyRange), row("SplitRegion", plans.SplitRegion),
		row("MvccGetByKey", plans.MvccGetByKey), row("MvccGetByStartTs", plans.MvccGetByStartTs),
		row("GetLockWaitInfo", plans.GetLockWaitInfo), row("GetHealthFeedback", plans.GetHealthFeedback),
		row("BroadcastTxnStatus", plans.BroadcastTxnStatus),
		row("GetStoreSafeTS", plans.GetStoreSafeTS),
		row("Coprocessor", plans.Coprocessor),
	}
}

// TestMethodsMatchTheirCommands: every exported Method's command builds
// messages of exactly the Method's Go types (a mismatch would make Retry
// fail every response, or the Pool refuse every request), reads are
// exactly the commands that do not write, and reads are idempotent.
func TestMethodsMatchTheirCommands(t *testing.T) {
	for _, m := range exportedMethods() {
		if !m.cmd.Valid() {
			t.Errorf("%s: invalid command", m.name)
			continue
		}
		if got := reflect.TypeOf(m.cmd.NewRequest()); got != m.req {
			t.Errorf("%s: %s builds requests of type %v, the Method's is %v", m.name, m.cmd, got, m.req)
		}
		if got := reflect.TypeOf(m.cmd.NewResponse()); got != m.resp {
			t.Errorf("%s: %s builds responses of type %v, the Method's is %v", m.name, m.cmd, got, m.resp)
		}
		if m.read == m.cmd.IsWrite() {
			t.Errorf("%s: Read %t but %s.IsWrite() is %t", m.name, m.read, m.cmd, m.cmd.IsWrite())
		}
		if m.read && !m.idempotent {
			t.Errorf("%s: a read must be idempotent", m.name)
		}
	}
}

// TestEveryCommandHasAMethod: each built-in command has an exported Method,
// and no two Methods share a command.
func TestEveryCommandHasAMethod(t *testing.T) {
	have := map[transport.Cmd]string{}
	for _, m := range exportedMethods() {
		if prev, dup := have[m.cmd]; dup {
			t.Errorf("%s and %s share %s", prev, m.name, m.cmd)
		}
		have[m.cmd] = m.name
	}
	for c := transport.CmdInvalid + 1; c.Valid(); c++ {
		if _, described := c.Descriptor(); described {
			break
		}
		if _, ok := have[c]; !ok {
			t.Errorf("%s has no exported Method", c)
		}
	}
}

// TestMethodFlags pins the retry flags whose reasons the Methods' docs
// give: the writes that are not idempotent, and a sample of those that are.
func TestMethodFlags(t *testing.T) {
	notIdempotent := map[string]bool{
		"RawPut": true, "RawBatchPut": true, "RawDelete": true, "RawBatchDelete": true, "RawDeleteRange": true,
		"RawCompareAndSwap": true, "KvDeleteRange": true, "UnsafeDestroyRange": true,
	}
	for _, m := range exportedMethods() {
		if m.idempotent == notIdempotent[m.name] {
			t.Errorf("%s: Idempotent %t", m.name, m.idempotent)
		}
	}
	// Every command whose body can fail has a mapper.
	for _, m := range exportedMethods() {
		if !m.hasErr && m.name != "GetHealthFeedback" && m.name != "GetStoreSafeTS" && m.name != "BroadcastTxnStatus" {
			t.Errorf("%s has no Err", m.name)
		}
	}
	if _, ok := any(&kvrpcpb.GetHealthFeedbackResponse{}).(interface{ GetError() string }); ok {
		t.Error("GetHealthFeedbackResponse now has an error field: map it")
	}
	if _, ok := any(&kvrpcpb.BroadcastTxnStatusResponse{}).(interface{ GetError() string }); ok {
		t.Error("BroadcastTxnStatusResponse now has an error field: map it")
	}
}
