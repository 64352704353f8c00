package pdclient

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestCloseGuardRefusesDialsAfterClose: before Close a guarded dial builds a
// connection as gRPC's passthrough resolver would; after Close the dial
// fails with errClientClosed and leaves no connection behind (goleak in
// TestMain checks the latter).
func TestCloseGuardRefusesDialsAfterClose(t *testing.T) {
	g := newCloseGuard()
	dial := func() (*grpc.ClientConn, error) {
		//nolint:staticcheck // pd/client dials with DialContext; the guard must work there.
		return grpc.DialContext(context.Background(), "127.0.0.1:1", g.dialOption(),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	cc, err := dial()
	if err != nil {
		t.Fatalf("dial before Close: %v", err)
	}
	if got := cc.Target(); got != "127.0.0.1:1" {
		t.Errorf("Target() = %q, want the address as given", got)
	}
	cc.Close()

	g.closed.Store(true) // what guardedClient.Close does first
	cc, err = dial()
	if !errors.Is(err, errClientClosed) {
		if cc != nil {
			cc.Close()
		}
		t.Fatalf("dial after Close: err = %v, want %v", err, errClientClosed)
	}
	if cc != nil {
		t.Fatalf("dial after Close returned a connection")
	}
}
