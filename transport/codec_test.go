package transport

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
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
