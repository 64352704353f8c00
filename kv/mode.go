package kv

import "fmt"

// KeyMode says which of TiKV's key spaces a client works in. RawKV and
// transactional keys are stored differently (transactional keys
// memcomparable-encoded, and under API v2 with a different prefix), so each
// mode has its own routing. The zero KeyMode names no key space: APIs that
// need one refuse it rather than pick one silently.
type KeyMode int

const (
	// ModeRaw is RawKV's key space.
	ModeRaw KeyMode = iota + 1
	// ModeTxn is the transactional (Percolator) key space.
	ModeTxn
)

// Valid reports whether m is ModeRaw or ModeTxn.
func (m KeyMode) Valid() bool { return m == ModeRaw || m == ModeTxn }

// String returns "raw", "txn", or "KeyMode(n)" for anything else.
func (m KeyMode) String() string {
	switch m {
	case ModeRaw:
		return "raw"
	case ModeTxn:
		return "txn"
	}
	return fmt.Sprintf("KeyMode(%d)", int(m))
}

// KeyModeError reports a command sent through an environment of the other
// key space: its keys would be encoded for one key space and routed by the
// regions of another. It wraps ErrInvalidArgument.
type KeyModeError struct {
	Cmd     string  // the command, such as "KvGet"
	CmdMode KeyMode // the key space the command's keys live in
	EnvMode KeyMode // the key space the environment routes
}

// Error describes the failure on one line.
func (e *KeyModeError) Error() string {
	return fmt.Sprintf("%s is a %s command but the environment routes %s keys (use the %s environment)",
		e.Cmd, e.CmdMode, e.EnvMode, e.CmdMode)
}

// Unwrap returns ErrInvalidArgument.
func (e *KeyModeError) Unwrap() error { return ErrInvalidArgument }
