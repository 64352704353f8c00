package transport

import "github.com/tikvgo/tikv/kv"

// KeyMode returns the key space c's keys live in: kv.ModeRaw for the raw
// commands, kv.ModeTxn for the transactional ones, and ok false for
// commands not tied to one (store-level and administrative commands, whose
// keys the caller encodes for the space it means).
func (c Cmd) KeyMode() (mode kv.KeyMode, ok bool) {
	switch {
	case c >= CmdGet && c <= CmdBufferBatchGet:
		return kv.ModeTxn, true
	case c >= CmdRawGet && c <= CmdRawChecksum:
		return kv.ModeRaw, true
	}
	return 0, false
}
