package transport

import "google.golang.org/protobuf/encoding/protowire"

// encodedBatch is a BatchCommandsRequest already in wire form; gogoCodec
// sends it as is (it has the Marshal method the codec looks for).
type encodedBatch []byte

// Marshal returns b itself: grpc takes ownership of the returned slice, and
// each batch is encoded into a fresh one.
func (b encodedBatch) Marshal() ([]byte, error) { return b, nil }

// Field numbers of tikvpb.BatchCommandsRequest.
const (
	batchFieldRequests   protowire.Number = 1
	batchFieldRequestIDs protowire.Number = 2
	batchFieldSendTime   protowire.Number = 3
)

// encodeBatch writes the BatchCommandsRequest carrying entries with ids:
// each sub-request is a Request message whose only field is the command's
// oneof field around the bytes the caller marshalled. Building the wire form
// directly spares a wrapper allocation per request and moves marshalling
// off the send loop onto the callers.
func encodeBatch(entries []*batchEntry, ids []uint64, sendTimeNs uint64) encodedBatch {
	size, idsSize := 0, 0
	for _, e := range entries {
		inner := protowire.SizeTag(e.field) + protowire.SizeBytes(len(e.buf))
		size += protowire.SizeTag(batchFieldRequests) + protowire.SizeBytes(inner)
	}
	for _, id := range ids {
		idsSize += protowire.SizeVarint(id)
	}
	size += protowire.SizeTag(batchFieldRequestIDs) + protowire.SizeBytes(idsSize)
	size += protowire.SizeTag(batchFieldSendTime) + protowire.SizeVarint(sendTimeNs)

	b := make([]byte, 0, size)
	for _, e := range entries {
		inner := protowire.SizeTag(e.field) + protowire.SizeBytes(len(e.buf))
		b = protowire.AppendTag(b, batchFieldRequests, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(inner))
		b = protowire.AppendTag(b, e.field, protowire.BytesType)
		b = protowire.AppendBytes(b, e.buf)
	}
	b = protowire.AppendTag(b, batchFieldRequestIDs, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(idsSize))
	for _, id := range ids {
		b = protowire.AppendVarint(b, id)
	}
	b = protowire.AppendTag(b, batchFieldSendTime, protowire.VarintType)
	b = protowire.AppendVarint(b, sendTimeNs)
	return b
}
