package raw_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// ExampleClient_Put_undetermined shows what a write promises under faults.
// The response to this Put is lost after TiKV applied it: the client does
// not send it again (a late copy could undo another client's write) and
// says the outcome is undetermined, so the caller reads the key to find
// out. (A batch write that fails in some regions says, key by key, what it
// did: errors.As(err, &partialWriteErr) with a *kv.PartialWriteError.)
func ExampleClient_Put_undetermined() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)

	mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "connection reset"))),
	}})
	err = client.Put(ctx, []byte("k"), []byte("v"))
	if errors.Is(err, kv.ErrUndetermined) {
		v, gerr := client.Get(ctx, []byte("k"))
		fmt.Printf("undetermined; read back: %s, %v\n", v, gerr)
	}

	// Output:
	// undetermined; read back: v, <nil>
}
