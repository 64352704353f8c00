package transport

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// batchableCmds lists every command that travels in BatchCommands, in Cmd
// order, for the fuzz targets to pick from.
func batchableCmds() []Cmd {
	var cmds []Cmd
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		if c.Batchable() {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// fuzzMessage returns a message made by decoding payload into newMsg(), or
// the empty message when payload does not decode as that type: either way
// a message the sender could have built.
func fuzzMessage(newMsg func() Message, payload []byte) Message {
	m := newMsg()
	if (gogoCodec{}).Unmarshal(payload, m) != nil {
		m = newMsg()
	}
	return m
}

func protoEqual(a, b Message) bool {
	return proto.Equal(protoadapt.MessageV2Of(a), protoadapt.MessageV2Of(b))
}

// FuzzBatchCommandsFraming: a batch the send loop frames by hand
// (encodeBatch writes the wire form without building the request message)
// decodes, as TiKV decodes it, to the same sub-requests of the same
// commands, the same request ids and send time; the size encodeBatch
// reserves up front is exact. The responses to those requests, framed as
// TiKV frames them, unwrap to the response of the right command only.
// plan picks a command per sub-request and seeds its request id; payload is
// decoded into each request and response message.
func FuzzBatchCommandsFraming(f *testing.F) {
	f.Add([]byte{0, 1, 2}, []byte{0x0a, 0x01, 'k'}, uint64(1))
	f.Add([]byte{}, []byte{}, uint64(0))
	f.Add([]byte{255, 7, 7, 30}, []byte{0x12, 0x02, 'a', 'b', 0x18, 0x96, 0x01}, uint64(1)<<63)
	cmds := batchableCmds()
	f.Fuzz(func(t *testing.T, plan, payload []byte, sendTime uint64) {
		entries := make([]*batchEntry, len(plan))
		ids := make([]uint64, len(plan))
		reqs := make([]Message, len(plan))
		for i, p := range plan {
			c := cmds[int(p)%len(cmds)]
			reqs[i] = fuzzMessage(c.NewRequest, payload)
			buf, err := marshalInto(nil, reqs[i])
			if err != nil {
				t.Fatalf("marshal %s request: %v", c, err)
			}
			entries[i] = &batchEntry{buf: buf, field: c.info().batch.field}
			ids[i] = uint64(p)<<(7*(i%10)) + uint64(i) // ids of every varint length
		}
		wire := encodeBatch(entries, ids, sendTime)
		if len(wire) != cap(wire) {
			t.Fatalf("encodeBatch reserved %d bytes, wrote %d", cap(wire), len(wire))
		}
		var got tikvpb.BatchCommandsRequest
		if err := (gogoCodec{}).Unmarshal(wire, &got); err != nil {
			t.Fatalf("a framed batch of %d does not decode: %v", len(plan), err)
		}
		if len(got.Requests) != len(plan) || !slices.Equal(got.RequestIds, ids) || got.ClientSendTimeNs != sendTime {
			t.Fatalf("batch decoded to %d requests, ids %v, send time %d; sent %d, %v, %d",
				len(got.Requests), got.RequestIds, got.ClientSendTimeNs, len(plan), ids, sendTime)
		}
		resp := &tikvpb.BatchCommandsResponse{RequestIds: ids, TransportLayerLoad: sendTime}
		resps := make([]Message, len(plan))
		for i, p := range plan {
			want := cmds[int(p)%len(cmds)]
			c, msg, ok := UnwrapBatchRequest(got.Requests[i])
			if !ok || c != want || !protoEqual(msg, reqs[i]) {
				t.Fatalf("sub-request %d decoded as %s %v (ok %v), sent %s %v", i, c, msg, ok, want, reqs[i])
			}
			resps[i] = fuzzMessage(c.NewResponse, payload)
			resp.Responses = append(resp.Responses, c.WrapBatchResponse(resps[i]))
		}

		wire, err := (gogoCodec{}).Marshal(resp)
		if err != nil {
			t.Fatalf("marshal response: %v", err)
		}
		var back tikvpb.BatchCommandsResponse
		if err := (gogoCodec{}).Unmarshal(wire, &back); err != nil {
			t.Fatalf("a framed response does not decode: %v", err)
		}
		if !slices.Equal(back.RequestIds, ids) || len(back.Responses) != len(plan) {
			t.Fatalf("response decoded to ids %v and %d bodies, sent %v", back.RequestIds, len(back.Responses), ids)
		}
		for i, p := range plan {
			c := cmds[int(p)%len(cmds)]
			m, err := c.UnwrapBatchResponse(back.Responses[i])
			if err != nil || !protoEqual(m, resps[i]) {
				t.Fatalf("response %d to %s unwrapped to %v, %v", i, c, m, err)
			}
			other := cmds[(int(p)+1)%len(cmds)]
			if m, err := other.UnwrapBatchResponse(back.Responses[i]); !errors.Is(err, ErrMalformedBatchResponse) || m != nil {
				t.Fatalf("the response to %s unwrapped as %s: %v, %v", c, other, m, err)
			}
		}
	})
}

// FuzzBatchCommandsMalformed: bytes off the wire, whatever they are, never
// panic the decoding or unwrapping of a BatchCommands request or response.
// A sub-response unwraps as at most one command, to a message of that
// command's response type, and as every other command to an error wrapping
// ErrMalformedBatchResponse. A request a server decodes and unwraps frames
// again, by encodeBatch, to the same batch.
func FuzzBatchCommandsMalformed(f *testing.F) {
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00, 0x12, 0x01, 0x07})
	f.Add([]byte{0x12, 0x03, 0x01, 0x02, 0x03, 0x0a, 0x05})
	f.Add([]byte{0x0a, 0x03, 0xfa, 0x01, 0x00})
	cmds := batchableCmds()
	f.Fuzz(func(t *testing.T, wire []byte) {
		var resp tikvpb.BatchCommandsResponse
		if (gogoCodec{}).Unmarshal(wire, &resp) == nil {
			for i, r := range resp.Responses {
				accepted := 0
				for _, c := range cmds {
					m, err := c.UnwrapBatchResponse(r)
					switch {
					case err == nil && m != nil:
						accepted++
						if reflect.TypeOf(m) != reflect.TypeOf(c.NewResponse()) {
							t.Fatalf("response %d unwrapped as %s to a %T", i, c, m)
						}
					case err != nil && m == nil:
						if !errors.Is(err, ErrMalformedBatchResponse) {
							t.Fatalf("response %d as %s: untyped error %v", i, c, err)
						}
					default:
						t.Fatalf("response %d as %s: %v and %v", i, c, m, err)
					}
				}
				if accepted > 1 {
					t.Fatalf("response %d unwrapped as %d commands", i, accepted)
				}
			}
		}

		var req tikvpb.BatchCommandsRequest
		if (gogoCodec{}).Unmarshal(wire, &req) != nil {
			return
		}
		var entries []*batchEntry
		var msgs []Message
		var cmdsSent []Cmd
		for _, r := range req.Requests {
			c, msg, ok := UnwrapBatchRequest(r)
			if !ok {
				continue // empty, the Empty probe, or a command we never batch
			}
			if reflect.TypeOf(msg) != reflect.TypeOf(c.NewRequest()) {
				t.Fatalf("sub-request unwrapped as %s to a %T", c, msg)
			}
			buf, err := marshalInto(nil, msg)
			if err != nil {
				t.Fatalf("marshal a decoded %s request: %v", c, err)
			}
			entries = append(entries, &batchEntry{buf: buf, field: c.info().batch.field})
			msgs, cmdsSent = append(msgs, msg), append(cmdsSent, c)
		}
		var again tikvpb.BatchCommandsRequest
		if err := (gogoCodec{}).Unmarshal(encodeBatch(entries, req.RequestIds, req.ClientSendTimeNs), &again); err != nil {
			t.Fatalf("re-framed batch does not decode: %v", err)
		}
		if len(again.Requests) != len(entries) || !slices.Equal(again.RequestIds, req.RequestIds) || again.ClientSendTimeNs != req.ClientSendTimeNs {
			t.Fatalf("re-framed batch changed: %d requests, ids %v, send time %d", len(again.Requests), again.RequestIds, again.ClientSendTimeNs)
		}
		for i, r := range again.Requests {
			if c, msg, ok := UnwrapBatchRequest(r); !ok || c != cmdsSent[i] || !protoEqual(msg, msgs[i]) {
				t.Fatalf("re-framed sub-request %d is %s %v, was %s %v", i, c, msg, cmdsSent[i], msgs[i])
			}
		}
	})
}

// malformedTikv answers BatchCommands sub-requests wrongly: a RawGet with a
// RawPut response, a RawPut with its request id and no body. The Empty
// probe is echoed, so the stream opens.
type malformedTikv struct{ *fakeTikv }

func (s malformedTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		out := &tikvpb.BatchCommandsResponse{RequestIds: req.RequestIds}
		for _, sub := range req.Requests {
			switch {
			case sub.GetEmpty() != nil:
				out.Responses = append(out.Responses, emptyResponse(sub.GetEmpty()))
			case sub.GetRawGet() != nil:
				out.Responses = append(out.Responses, CmdRawPut.WrapBatchResponse(&kvrpcpb.RawPutResponse{}))
			}
			// A RawPut gets no body: its id stays in RequestIds past the
			// end of Responses.
		}
		if err := stream.Send(out); err != nil {
			return nil
		}
	}
}

// TestBatchMalformedResponseIsTyped: a sub-response of another command and
// an id answered without a body fail the request with an error wrapping
// ErrMalformedBatchResponse, not ErrNotSent (TiKV may have executed it).
//
// ports client-go's TestBatchResponse (tikvrpc/tikvrpc_test.go): a
// sub-response without a command is an error, not a response.
func TestBatchMalformedResponseIsTyped(t *testing.T) {
	addr := startTikv(t, malformedTikv{&fakeTikv{}})
	p, _ := newTestPool(t, WithConnsPerStore(1))
	for _, req := range []*Request{rawGet(addr, "k"), rawPut(addr, "k", "v")} {
		resp, err := p.Send(context.Background(), req)
		if !errors.Is(err, ErrMalformedBatchResponse) || errors.Is(err, ErrNotSent) || resp != nil {
			t.Errorf("%s answered wrongly: %v, %v; want ErrMalformedBatchResponse", req.Cmd, resp, err)
		}
	}
}
