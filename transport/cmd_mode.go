package transport

import "github.com/tikvgo/tikv/kv"

// KeyMode returns the key space c's keys live in: kv.ModeRaw for the raw
// commands, kv.ModeTxn for the transactional ones, and ok false for
// commands not tied to one (store-level and administrative commands, whose
// keys the caller encodes for the space it means). A described command
// reports its descriptor's KeyMode (ok false when that is zero).
func (c Cmd) KeyMode() (mode kv.KeyMode, ok bool) {
	if m := builtinMode(c); m.Valid() {
		return m, true
	}
	if c > CmdInvalid && c < cmdCount {
		return 0, false
	}
	if info := lookupDescribed(c); info != nil && info.mode.Valid() {
		return info.mode, true
	}
	return 0, false
}

// builtinMode classifies the built-in commands by their place in the
// table; zero for the others.
func builtinMode(c Cmd) kv.KeyMode {
	switch {
	case c >= CmdGet && c <= CmdBufferBatchGet:
		return kv.ModeTxn
	case c >= CmdRawGet && c <= CmdRawChecksum:
		return kv.ModeRaw
	}
	return 0
}
