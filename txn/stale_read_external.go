package txn

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// SetExternalTimestamp sets the cluster's external timestamp in PD
// (client-go's Oracle.SetExternalTimestamp; see
// pdclient.ExternalTimestamper): PD refuses a ts above its TSO or not
// above the current external timestamp, and the error says which. It
// fails with kv.ErrInvalidArgument when the client's Backend offers no PD
// that keeps one.
func (c *Client) SetExternalTimestamp(ctx context.Context, ts uint64) error {
	e, err := c.externalTimestamper()
	if err != nil {
		return err
	}
	if err := e.SetExternalTimestamp(ctx, ts); err != nil {
		return fmt.Errorf("txn: set external timestamp %d: %w", ts, err)
	}
	return nil
}

// GetExternalTimestamp returns the cluster's external timestamp from PD
// (client-go's Oracle.GetExternalTimestamp), 0 when none was set; a
// snapshot at it reads what the process that set it vouched for.
func (c *Client) GetExternalTimestamp(ctx context.Context) (uint64, error) {
	e, err := c.externalTimestamper()
	if err != nil {
		return 0, err
	}
	ts, err := e.GetExternalTimestamp(ctx)
	if err != nil {
		return 0, fmt.Errorf("txn: get external timestamp: %w", err)
	}
	return ts, nil
}

func (c *Client) externalTimestamper() (pdclient.ExternalTimestamper, error) {
	if c.closed.Load() {
		return nil, kv.ErrClosed
	}
	e, ok := c.pd.(pdclient.ExternalTimestamper)
	if !ok {
		return nil, kv.InvalidArgument("txn: the client's PD keeps no external timestamp")
	}
	return e, nil
}

// KeyspaceGroupMinTS returns the smallest timestamp any of the cluster's
// TSO keyspace groups may still hand out (client-go's
// Oracle.GetAllTSOKeyspaceGroupMinTS; PD's GetMinTS): a snapshot at or
// below it is behind every group's TSO. Where PD serves TSO itself (no
// keyspace groups) it is a fresh timestamp. It fails with
// kv.ErrInvalidArgument when the client's PD cannot report it.
func (c *Client) KeyspaceGroupMinTS(ctx context.Context) (uint64, error) {
	if c.closed.Load() {
		return 0, kv.ErrClosed
	}
	ts, err := c.oracle.KeyspaceGroupMinTS(ctx)
	if err != nil {
		return 0, fmt.Errorf("txn: keyspace groups' min ts: %w", err)
	}
	return ts, nil
}
