package txn

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// RequestContext is the request-level kvrpcpb.Context of a transaction's
// writes (prewrite, commit, rollback, heartbeat): priority, sync log,
// request source, resource group tag and name, disk-full option, txn
// source and execution limit. A client's default is
// CommitOptions.Context (WithCommitOptions); a transaction's own settings
// (the BeginOptions below) win field by field. Rollbacks carry neither
// DiskFullOpt nor TxnSource, as in client-go.
type RequestContext = twopc.RequestContext

// WithTxnPriority sets the priority TiKV schedules the transaction's reads
// and writes with (Context.priority; client-go's KVTxn.SetPriority, which
// sets both too).
func WithTxnPriority(p kvrpcpb.CommandPri) BeginOption {
	return func(c *beginConfig) {
		c.reqCtx.Priority = p
		c.snapOpts = append(c.snapOpts, WithPriority(p))
	}
}

// WithTxnRequestSource labels the transaction's reads and writes for
// TiKV's metrics and resource control (Context.request_source).
func WithTxnRequestSource(source string) BeginOption {
	return func(c *beginConfig) {
		c.reqCtx.RequestSource = source
		c.snapOpts = append(c.snapOpts, WithRequestSource(source))
	}
}

// WithTxnResourceGroupTag tags the transaction's reads and writes for
// TiKV's resource metering (Context.resource_group_tag; client-go's
// KVTxn.SetResourceGroupTag).
func WithTxnResourceGroupTag(tag []byte) BeginOption {
	return func(c *beginConfig) {
		c.reqCtx.ResourceGroupTag = tag
		c.snapOpts = append(c.snapOpts, WithResourceGroupTag(tag))
	}
}

// WithTxnResourceGroupName charges the transaction's reads and writes to a
// resource group (Context.resource_control_context; client-go's
// KVTxn.SetResourceGroupName).
func WithTxnResourceGroupName(name string) BeginOption {
	return func(c *beginConfig) {
		c.reqCtx.ResourceGroupName = name
		c.snapOpts = append(c.snapOpts, WithResourceGroupName(name))
	}
}

// WithDiskFullOpt lets TiKV apply the transaction's writes when its disk
// is almost full (kvrpcpb.DiskFullOpt_AllowedOnAlmostFull) or full
// (AllowedOnAlreadyFull); by default (NotAllowedOnFull) TiKV refuses them
// (Context.disk_full_opt; client-go's KVTxn.SetDiskFullOpt).
func WithDiskFullOpt(o kvrpcpb.DiskFullOpt) BeginOption {
	return func(c *beginConfig) { c.reqCtx.DiskFullOpt = o }
}

// WithTxnSource marks where the transaction's writes come from, for CDC
// and replication filters (Context.txn_source; client-go's
// KVTxn.SetTxnSource).
func WithTxnSource(source uint64) BeginOption {
	return func(c *beginConfig) { c.reqCtx.TxnSource = source }
}

// WithSyncLog makes TiKV sync its raft log before it answers the
// transaction's writes (Context.sync_log; client-go's
// KVTxn.EnableForceSyncLog).
func WithSyncLog() BeginOption {
	return func(c *beginConfig) { c.reqCtx.SyncLog = true }
}

// WithMaxWriteExecution bounds how long TiKV works on one of the
// transaction's write requests before it gives up
// (Context.max_execution_duration_ms); by default 20 s (client-go's
// MaxWriteExecutionTime).
func WithMaxWriteExecution(d time.Duration) BeginOption {
	return func(c *beginConfig) { c.reqCtx.MaxExecution = d }
}

// RequestContext returns the request context the transaction's writes
// carry, the client's defaults aside (CommitOptions.Context fills its
// zero fields at commit).
func (t *Txn) RequestContext() RequestContext { return t.reqCtx }
