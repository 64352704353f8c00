// Command resourcecontrol shows resource groups: every request tikvgo sends
// is charged request units (RU) to a group, waits when the group's RU run
// out, and carries the group to TiKV, through PD's resource-group
// controller (tikv.WithResourceControl).
//
// It starts an embedded mocktikv, whose PD serves the resource manager,
// creates a small group (200 RU/s), and writes the same rows in the
// unlimited default group and in the small one: the second batch waits for
// its RU. Then a transaction runs in a group of its own.
//
//	go run ./examples/resourcecontrol
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	"github.com/tikv/pd/client/resource_group/controller"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "resourcecontrol:", err)
		os.Exit(1)
	}
}

// group is an RU-mode resource group: fillRate RU a second, holding at most
// burst (-1: unlimited).
func group(name string, fillRate uint64, burst int64, priority uint32) *rmpb.ResourceGroup {
	return &rmpb.ResourceGroup{
		Name: name, Mode: rmpb.GroupMode_RUMode, Priority: priority,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{
			Settings: &rmpb.TokenLimitSettings{FillRate: fillRate, BurstLimit: burst},
		}},
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mock := mocktikv.NewCluster()
	if err := mock.Serve(); err != nil {
		return fmt.Errorf("start mocktikv: %w", err)
	}
	defer mock.Close()
	fmt.Fprintf(out, "started mocktikv: PD at %s\n", mock.PDAddrs()[0])

	// Requests go to the "default" group unless their ctx or transaction
	// names another.
	cluster, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithResourceControl("default"))
	if err != nil {
		return err
	}
	defer cluster.Close()

	// Groups are PD's: create them with the PD client (as TiDB's CREATE
	// RESOURCE GROUP does).
	groups, ok := cluster.PD().(controller.ResourceGroupProvider)
	if !ok {
		return errors.New("the PD client serves no resource groups")
	}
	for _, g := range []*rmpb.ResourceGroup{group("batch", 200, 200, 1), group("reports", 100000, -1, 16)} {
		if _, err := groups.AddResourceGroup(ctx, g); err != nil {
			return fmt.Errorf("create group %s: %w", g.Name, err)
		}
	}
	client := raw.NewClient(cluster)
	batch := middleware.WithResourceGroup(ctx, "batch")

	// PD hands a new limited group a large first allowance; let the
	// controller make its first request for the group, so the rows below
	// meet the group's 200 RU burst.
	if err := client.Put(batch, []byte("warm-up"), nil); err != nil {
		return err
	}
	if err := waitForBucket(ctx, groups, "batch"); err != nil {
		return err
	}

	// A 4 KiB row costs about 5.7 RU to write: 100 rows are 570 RU, more
	// than the 200 RU the controller starts the group with plus the 200
	// PD's bucket may hold, so the small group must wait for the rest.
	const rows = 100
	value := make([]byte, 4096)
	write := func(ctx context.Context, name string) error {
		details := &middleware.RUDetails{}
		ctx = middleware.WithRUDetails(ctx, details)
		start := time.Now()
		for i := range rows {
			if err := client.Put(ctx, fmt.Appendf(nil, "%s/%03d", name, i), value); err != nil {
				return fmt.Errorf("put in %s: %w", name, err)
			}
		}
		took := time.Since(start)
		waited := "no wait for RU"
		if details.WaitDuration() > 0 {
			waited = "waited for RU"
		}
		fmt.Fprintf(out, "%d rows in group %s: %.1f WRU charged, %s (%v waiting, %v in all)\n",
			rows, name, details.WRU(), waited, details.WaitDuration().Round(time.Millisecond), took.Round(time.Millisecond))
		return nil
	}
	if err := write(ctx, "default"); err != nil {
		return err
	}
	if err := write(batch, "batch"); err != nil {
		return err
	}

	// A transaction charges its reads and writes to its own group; its
	// requests carry the group's priority (16) to TiKV's scheduler.
	tc := txn.NewClient(cluster)
	defer tc.Close(ctx)
	details := &middleware.RUDetails{}
	tctx := middleware.WithRUDetails(ctx, details)
	err = tc.Update(tctx, func(ctx context.Context, t *txn.Txn) error {
		if _, err := t.Get(ctx, []byte("report/total")); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		return t.Set([]byte("report/total"), []byte("42"))
	}, txn.WithTxnResourceGroupName("reports"))
	if err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	fmt.Fprintf(out, "transaction in group reports: %.2f RRU and %.2f WRU charged\n", details.RRU(), details.WRU())
	active := cluster.ResourceController().GetActiveResourceGroup("reports")
	fmt.Fprintf(out, "the controller knows group reports at priority %d\n", active.GetPriority())
	return nil
}

// waitForBucket waits until PD has set up the group's token bucket (its
// tokens are no longer zero), which it does at the controller's first
// token request for the group.
func waitForBucket(ctx context.Context, groups controller.ResourceGroupProvider, name string) error {
	for {
		g, err := groups.GetResourceGroup(ctx, name)
		if err != nil {
			return err
		}
		if g.GetRUSettings().GetRU().GetTokens() != 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s: the controller asked PD for no tokens: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
