package transport

import (
	"bytes"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestGogoCodec(t *testing.T) {
	c := gogoCodec{}
	require.Equal(t, "proto", c.Name())
	in := &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{RegionId: 3}, Key: []byte("k"), Cf: "lock"}
	b, err := c.Marshal(in)
	require.NoError(t, err)

	out := &kvrpcpb.RawGetRequest{Key: []byte("stale"), Cf: "stale"}
	require.NoError(t, c.Unmarshal(b, out))
	require.True(t, proto.Equal(protoadapt.MessageV2Of(in), protoadapt.MessageV2Of(out)), "%v", out)

	// Decoding must not alias the input buffer.
	for i := range b {
		b[i] = 0
	}
	require.Equal(t, []byte("k"), out.Key)

	_, err = c.Marshal(struct{}{})
	require.Error(t, err)
	require.Error(t, c.Unmarshal(nil, &struct{}{}))
}

// TestGogoCodecV2 round-trips messages below and above grpc's pooling
// threshold (every size across the small frames' classes and their
// edges), and one without gogo's methods, through the codec unary calls
// use; decoded bytes must not alias the (pooled) frame.
func TestGogoCodecV2(t *testing.T) {
	c := gogoCodecV2{}
	require.Equal(t, "proto", c.Name())
	sizes := []int{5000}
	for size := range 1100 {
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		in := &kvrpcpb.RawPutRequest{Context: &kvrpcpb.Context{RegionId: 7}, Key: []byte("k"), Value: bytes.Repeat([]byte{'v'}, size)}
		frame, err := c.Marshal(in)
		require.NoError(t, err)
		require.Equal(t, in.Size(), frame.Len())
		wire := frame.Materialize()
		frame.Free()

		out := &kvrpcpb.RawPutRequest{Cf: "stale"}
		require.NoError(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, out))
		require.True(t, proto.Equal(protoadapt.MessageV2Of(in), protoadapt.MessageV2Of(out)), "size %d: %v", size, out)
		for i := range wire {
			wire[i] = 0
		}
		require.Equal(t, []byte("k"), out.Key)
	}

	// A message without gogo's methods goes through the protobuf runtime.
	in := &emptypb.Empty{}
	frame, err := c.Marshal(in)
	require.NoError(t, err)
	require.NoError(t, c.Unmarshal(frame, &emptypb.Empty{}))

	_, err = c.Marshal(struct{}{})
	require.Error(t, err)
	require.Error(t, c.Unmarshal(nil, &struct{}{}))
}
