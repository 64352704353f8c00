package pipeline_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/tikvgo/tikv/pipeline"
)

// owner is a minimal Spawner; a *tikv.Cluster is the usual one.
type owner struct{ wg sync.WaitGroup }

func (o *owner) Go(f func(ctx context.Context)) error {
	o.wg.Go(func() { f(context.Background()) })
	return nil
}

// ExampleStart runs a plan without waiting for it and collects the
// result from its Future later. Any Plan works: a raw or transactional
// one from plans, or a composed one.
func ExampleStart() {
	double := pipeline.Plan[int, int](func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	var o owner
	f := pipeline.Start(&o, context.Background(), double, 21)
	// ... do other work meanwhile ...
	v, err := f.Result()
	fmt.Println(v, err)
	o.wg.Wait()
	// Output: 42 <nil>
}
