package tikv_test

import (
	"context"
	"fmt"
	"log"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	"github.com/tikv/pd/client/resource_group/controller"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// ExampleWithResourceControl charges a call to a resource group named in
// its context, and reads what it was charged.
func ExampleWithResourceControl() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	ctx := context.Background()

	// Resource groups are PD's; mocktikv's PD serves them.
	_, err := mock.PD().(controller.ResourceGroupProvider).AddResourceGroup(ctx, &rmpb.ResourceGroup{
		Name: "analytics", Mode: rmpb.GroupMode_RUMode, Priority: 4,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{
			Settings: &rmpb.TokenLimitSettings{FillRate: 2000, BurstLimit: 2000},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithResourceControl("default"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	details := &middleware.RUDetails{}
	callCtx := middleware.WithRUDetails(middleware.WithResourceGroup(ctx, "analytics"), details)
	if err := raw.NewClient(cluster).Put(callCtx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
	// A write costs 1 RU, plus 0.7 for its share of a batch, plus 1 RU a KiB.
	fmt.Printf("charged %.3f WRU to analytics\n", details.WRU())
	// Output:
	// charged 1.702 WRU to analytics
}
