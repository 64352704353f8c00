package pdclient

import (
	"context"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
)

func TestConnectNeedsAnAddress(t *testing.T) {
	_, err := Connect(context.Background(), nil, WithSecurity("", "", ""))
	check.ErrorIs(t, err, kv.ErrInvalidArgument)
}

func TestConnectHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Connect(ctx, []string{"127.0.0.1:1"}) // nothing listens there
	check.ErrorIs(t, err, context.DeadlineExceeded)
	check.True(t, time.Since(start) < 5*time.Second, "Connect took %v", time.Since(start))
}
