package tikv_test

import (
	"context"
	"log"
	"log/slog"
	"os"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
)

// ExampleWithLogger sends the cluster's logs, the PD client's connection
// life cycle included, to a JSON logger at Info level. Without WithLogger
// the cluster writes only warnings and errors, to standard error.
func ExampleWithLogger() {
	mock := mocktikv.NewCluster()
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cluster, err := tikv.Connect(context.Background(), mock.PDAddrs(), tikv.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
}
