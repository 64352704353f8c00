package pipeline_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// ExampleShardByKey builds a single-key plan: the key's region is located
// directly, the RawGetKeyTTL step is retried per region, and Single takes
// the one Part's response.
func ExampleShardByKey() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("m")),
		mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL))
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeRaw)
	if _, err := plans.NewRaw(env).Put(ctx, &kvrpcpb.RawPutRequest{Key: []byte("x"), Value: []byte("v"), Ttl: 600}); err != nil {
		log.Fatal(err)
	}

	ttlOf := pipeline.Single(pipeline.ShardByKey(env, (*kvrpcpb.RawGetKeyTTLRequest).GetKey,
		pipeline.Retry(env, plans.RawGetKeyTTL), pipeline.Named("TTL")))
	resp, err := ttlOf(ctx, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("x")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetTtl() > 590 && resp.GetTtl() <= 600)
	// Output:
	// true
}
