package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/tikvgo/tikv/kv"
)

// Described commands are process-wide: every test describes names of its
// own, so tests (and -count reruns, which describe the same names again
// and get the same Cmd back) do not interfere.

func describeEcho(t *testing.T, name string) Cmd {
	t.Helper()
	c, err := Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: name, KeyMode: kv.ModeTxn})
	require.NoError(t, err)
	return c
}

func TestDescribeMakesAWorkingCmd(t *testing.T) {
	c := describeEcho(t, "TestDescribeEcho")

	require.True(t, c.Valid())
	require.GreaterOrEqual(t, c, cmdCount, "a described command must not take a built-in slot")
	require.Equal(t, "TestDescribeEcho", c.String())
	require.Equal(t, "/tikvpb.Tikv/TestDescribeEcho", c.FullMethod())
	require.False(t, c.IsWrite())
	require.False(t, c.Batchable(), "a described command has no BatchCommands slot")
	mode, ok := c.KeyMode()
	require.True(t, ok)
	require.Equal(t, kv.ModeTxn, mode)
	require.IsType(t, &kvrpcpb.GetRequest{}, c.NewRequest())
	require.IsType(t, &kvrpcpb.GetResponse{}, c.NewResponse())
	require.NotSame(t, c.NewRequest(), c.NewRequest())
	got, ok := CmdByName("TestDescribeEcho")
	require.True(t, ok)
	require.Equal(t, c, got)
	d, ok := c.Descriptor()
	require.True(t, ok)
	require.Equal(t, "TestDescribeEcho", d.Name)
	_, ok = CmdRawGet.Descriptor()
	require.False(t, ok, "a built-in command has no descriptor")

	// The Context is found by reflection and swapped on a copy, as for a
	// built-in command.
	require.True(t, c.HasContext())
	orig := &kvrpcpb.Context{RegionId: 1}
	req := &kvrpcpb.GetRequest{Context: orig, Key: []byte("k"), Version: 7}
	next := &kvrpcpb.Context{RegionId: 2}
	out := c.WithContext(req, next).(*kvrpcpb.GetRequest)
	require.NotSame(t, req, out)
	require.Same(t, next, out.Context)
	require.Same(t, next, c.Context(out))
	require.Equal(t, []byte("k"), out.Key)
	require.Equal(t, uint64(7), out.Version)
	require.Same(t, orig, req.Context, "the caller's request must not change")
}

func TestDescribeStoreLevelCommandHasNoContext(t *testing.T) {
	c, err := Describe[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse](CmdDesc{
		Name: "TestDescribeStoreLevel", FullMethod: "/tikvgo.test.Admin/SafeTS", Write: true,
	})
	require.NoError(t, err)
	require.False(t, c.HasContext())
	require.True(t, c.IsWrite())
	require.Equal(t, "/tikvgo.test.Admin/SafeTS", c.FullMethod())
	_, ok := c.KeyMode()
	require.False(t, ok, "no KeyMode in the descriptor: tied to no key space")
	req := &kvrpcpb.StoreSafeTSRequest{}
	require.Same(t, req, c.WithContext(req, &kvrpcpb.Context{}))
	require.Nil(t, c.Context(req))
}

func TestDescribeAgain(t *testing.T) {
	c := describeEcho(t, "TestDescribeAgain")
	require.Equal(t, c, describeEcho(t, "TestDescribeAgain"), "an agreeing descriptor returns the same Cmd")

	for name, try := range map[string]func() (Cmd, error){
		"other request type": func() (Cmd, error) {
			return Describe[*kvrpcpb.ScanRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "TestDescribeAgain", KeyMode: kv.ModeTxn})
		},
		"other response type": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.ScanResponse](CmdDesc{Name: "TestDescribeAgain", KeyMode: kv.ModeTxn})
		},
		"write": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "TestDescribeAgain", KeyMode: kv.ModeTxn, Write: true})
		},
		"key mode": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "TestDescribeAgain", KeyMode: kv.ModeRaw})
		},
		"full method": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "TestDescribeAgain", FullMethod: "/x.Y/TestDescribeAgain", KeyMode: kv.ModeTxn})
		},
		"same method, other name": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "Other", FullMethod: "/tikvpb.Tikv/TestDescribeAgain", KeyMode: kv.ModeTxn})
		},
		"hooks": func() (Cmd, error) {
			return Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{
				Name: "TestDescribeAgain", KeyMode: kv.ModeTxn,
				EncodeKeys: func(m Message, _ KeyCodec) (Message, error) { return m, nil },
				DecodeKeys: func(Message, KeyCodec) error { return nil },
			})
		},
	} {
		got, err := try()
		var de *DescribeError
		require.ErrorAs(t, err, &de, name)
		require.ErrorIs(t, err, kv.ErrInvalidArgument, name)
		require.Contains(t, err.Error(), "already described", name)
		require.Equal(t, CmdInvalid, got, name)
	}
}

func TestDescribeRefusesBadDescriptors(t *testing.T) {
	hookE := func(m Message, _ KeyCodec) (Message, error) { return m, nil }
	for name, d := range map[string]CmdDesc{
		"empty name":              {},
		"slash in name":           {Name: "a/b"},
		"built-in name":           {Name: "KvGet"},
		"built-in method":         {Name: "MyGet", FullMethod: "/tikvpb.Tikv/KvGet"},
		"method without service":  {Name: "X", FullMethod: "/X"},
		"method without slash":    {Name: "X", FullMethod: "tikvpb.Tikv/X"},
		"method with extra parts": {Name: "X", FullMethod: "/a/b/c"},
		"invalid key mode":        {Name: "X", KeyMode: 7},
		"encode hook only":        {Name: "X", EncodeKeys: hookE},
	} {
		c, err := Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](d)
		var de *DescribeError
		require.ErrorAs(t, err, &de, name)
		require.ErrorIs(t, err, kv.ErrInvalidArgument, name)
		require.Equal(t, CmdInvalid, c, name)
	}
	_, ok := CmdByName("X")
	require.False(t, ok, "a refused descriptor must not be registered")
}

func TestDescribedCmdUnknownValuesStayInvalid(t *testing.T) {
	c := describeEcho(t, "TestDescribeUnknown")
	beyond := Cmd(65535)
	require.NotEqual(t, c, beyond)
	require.False(t, beyond.Valid())
	require.Equal(t, "Cmd(65535)", beyond.String())
	require.Panics(t, func() { beyond.NewRequest() })
	_, ok := beyond.KeyMode()
	require.False(t, ok)
}

// TestDescribeConcurrent describes commands while others use built-in and
// described commands: run under -race, it proves registration publishes
// complete rows and lookups need no lock.
func TestDescribeConcurrent(t *testing.T) {
	const workers, perWorker = 8, 20
	shared := describeEcho(t, "TestDescribeConcurrentShared")
	var wg sync.WaitGroup
	cmds := make([][]Cmd, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// A command of this worker's own, and the one all share.
				c, err := Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{
					Name: fmt.Sprintf("TestDescribeConcurrent%d_%d", w, i), KeyMode: kv.ModeTxn,
				})
				if err != nil {
					errs <- err
					return
				}
				cmds[w] = append(cmds[w], c)
				again, err := Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](CmdDesc{Name: "TestDescribeConcurrentShared", KeyMode: kv.ModeTxn})
				if err != nil || again != shared {
					errs <- fmt.Errorf("shared command described again: %v, %v (want %v)", again, err, shared)
					return
				}
				// Use every command this worker has so far, and a built-in.
				for _, u := range append(cmds[w], shared, CmdRawGet) {
					req := u.WithContext(u.NewRequest(), &kvrpcpb.Context{RegionId: uint64(i)})
					if u.Context(req).GetRegionId() != uint64(i) || !u.Valid() || u.String() == "" {
						errs <- fmt.Errorf("%v: row not usable", u)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := map[Cmd]string{shared: "shared"}
	for w := range workers {
		require.Len(t, cmds[w], perWorker)
		for i, c := range cmds[w] {
			name := fmt.Sprintf("TestDescribeConcurrent%d_%d", w, i)
			require.Equal(t, name, c.String())
			prev, dup := seen[c]
			require.False(t, dup, "%s and %s got the same Cmd %d", prev, name, c)
			seen[c] = name
		}
	}
}

// TestPoolSendsDescribedCmdUnary sends a described command through a
// batching Pool to a server that knows the method only through its
// unknown-service handler: the command travels as a unary call on the
// described method, with its own message types.
func TestPoolSendsDescribedCmdUnary(t *testing.T) {
	c := describeEcho(t, "TestPoolDescribedEcho")
	methods := make(chan string, 1)
	fake := &fakeTikv{}
	s := startServer(t, fake, grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(stream)
		methods <- m
		req := &kvrpcpb.GetRequest{}
		if err := stream.RecvMsg(req); err != nil {
			return err
		}
		return stream.SendMsg(&kvrpcpb.GetResponse{Value: append([]byte("echo:"), req.Key...)})
	}))
	p, _ := newTestPool(t) // batching is on by default
	resp, err := p.Send(context.Background(), &Request{
		Cmd:    c,
		Msg:    &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{RegionId: 1}, Key: []byte("k")},
		Target: Target{StoreID: 1, Addr: s.addr, RegionID: 1},
	})
	require.NoError(t, err)
	require.Equal(t, "/tikvpb.Tikv/TestPoolDescribedEcho", <-methods)
	got, ok := resp.Msg.(*kvrpcpb.GetResponse)
	require.True(t, ok, "response is %T", resp.Msg)
	require.Equal(t, []byte("echo:k"), got.Value)

	// The Pool checks the message type of a described command as of a
	// built-in one.
	_, err = p.Send(context.Background(), &Request{Cmd: c, Msg: &kvrpcpb.ScanRequest{}, Target: Target{Addr: s.addr}})
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	require.True(t, errors.Is(err, ErrNotSent))
}
