package twopc

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// RequestContext holds the request-level kvrpcpb.Context fields a
// transaction's write requests carry (client-go's committer fields
// priority, syncLog, resourceGroupTag, resourceGroupName, diskFullOpt,
// txnSource and the request source). Zero fields are not sent; Retry adds
// the routing fields to a copy for each attempt.
type RequestContext struct {
	// Priority is the priority TiKV schedules the requests with
	// (Context.priority).
	Priority kvrpcpb.CommandPri
	// SyncLog makes TiKV sync its raft log before answering
	// (Context.sync_log; client-go's EnableForceSyncLog).
	SyncLog bool
	// RequestSource labels the requests for TiKV's metrics and resource
	// control (Context.request_source).
	RequestSource string
	// ResourceGroupTag tags the requests for TiKV's resource metering
	// (Context.resource_group_tag).
	ResourceGroupTag []byte
	// ResourceGroupName charges the requests to a resource group
	// (Context.resource_control_context.resource_group_name).
	ResourceGroupName string
	// DiskFullOpt says whether TiKV may apply the writes when its disk is
	// almost or already full (Context.disk_full_opt; zero is
	// NotAllowedOnFull, TiKV's default).
	DiskFullOpt kvrpcpb.DiskFullOpt
	// TxnSource marks where the transaction comes from, for CDC and
	// replication filters (Context.txn_source).
	TxnSource uint64
	// MaxExecution bounds how long TiKV works on one request before it
	// gives up (Context.max_execution_duration_ms); zero keeps the
	// pipeline's write default (client-go's MaxWriteExecutionTime).
	MaxExecution time.Duration
}

// over returns rc with its zero fields taken from def: a transaction's own
// settings win over the client's defaults, field by field.
func (rc RequestContext) over(def RequestContext) RequestContext {
	if rc.Priority == kvrpcpb.CommandPri_Normal {
		rc.Priority = def.Priority
	}
	rc.SyncLog = rc.SyncLog || def.SyncLog
	if rc.RequestSource == "" {
		rc.RequestSource = def.RequestSource
	}
	if rc.ResourceGroupTag == nil {
		rc.ResourceGroupTag = def.ResourceGroupTag
	}
	if rc.ResourceGroupName == "" {
		rc.ResourceGroupName = def.ResourceGroupName
	}
	if rc.DiskFullOpt == kvrpcpb.DiskFullOpt_NotAllowedOnFull {
		rc.DiskFullOpt = def.DiskFullOpt
	}
	if rc.TxnSource == 0 {
		rc.TxnSource = def.TxnSource
	}
	if rc.MaxExecution <= 0 {
		rc.MaxExecution = def.MaxExecution
	}
	return rc
}

// writeContext is the Context template of the transaction's prewrites,
// commits and heartbeats: every field.
func (rc RequestContext) writeContext() *kvrpcpb.Context {
	c := rc.rollbackContext()
	c.DiskFullOpt = rc.DiskFullOpt
	c.TxnSource = rc.TxnSource
	return c
}

// rollbackContext is the Context template of the transaction's rollbacks:
// every field but disk_full_opt and txn_source, which client-go's cleanup
// (actionCleanup) does not send with a BatchRollback either.
func (rc RequestContext) rollbackContext() *kvrpcpb.Context {
	c := &kvrpcpb.Context{
		Priority:               rc.Priority,
		SyncLog:                rc.SyncLog,
		RequestSource:          rc.RequestSource,
		ResourceGroupTag:       rc.ResourceGroupTag,
		MaxExecutionDurationMs: uint64(rc.MaxExecution.Milliseconds()),
	}
	if rc.ResourceGroupName != "" {
		c.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: rc.ResourceGroupName}
	}
	return c
}
