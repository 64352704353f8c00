package tikv_test

import (
	"compress/gzip"
	"io"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// countingGzip is gzip under a name of its own that counts the messages
// it compresses, registered with grpc for this test binary (client and
// in-process server alike).
type countingGzip struct{ compressed *atomic.Int64 }

const countingGzipName = "tikvgo-test-gzip"

var gzipMessages atomic.Int64

func init() { encoding.RegisterCompressor(countingGzip{&gzipMessages}) }

func (c countingGzip) Name() string { return countingGzipName }

func (c countingGzip) Compress(w io.Writer) (io.WriteCloser, error) {
	c.compressed.Add(1)
	return gzip.NewWriter(w), nil
}

func (c countingGzip) Decompress(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

// TestGrpcCompressionThroughDialOptions: client-go's
// TiKVClient.GrpcCompressionType is a dial option of the pool
// (grpc.UseCompressor, as docs/migrating.md says), and it reaches every
// call the pool makes, BatchCommands streams included: the requests of a
// put and a get are compressed, and the answers still arrive.
func TestGrpcCompressionThroughDialOptions(t *testing.T) {
	mock := mocktikv.Start(t)
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithPoolOptions(
		transport.WithDialOptions(grpc.WithDefaultCallOptions(grpc.UseCompressor(countingGzipName)))))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	before := gzipMessages.Load()
	client := raw.NewClient(cluster)
	if err := client.Put(t.Context(), []byte("k"), []byte("compressed")); err != nil {
		t.Fatal(err)
	}
	v, err := client.Get(t.Context(), []byte("k"))
	if err != nil || string(v) != "compressed" {
		t.Fatalf("get: %q, %v", v, err)
	}
	if n := gzipMessages.Load() - before; n < 2 {
		t.Fatalf("%d messages compressed for a put and a get, want at least 2", n)
	}
}
