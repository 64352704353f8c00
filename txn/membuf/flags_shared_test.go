package membuf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKeyLockedInShareModeFlag: SetKeyLockedInShareMode and
// SetKeyLockedInExclusiveMode set and clear the share-mode bit, which, like
// the lock it qualifies, survives a statement's rollback of the key's value
// (client-go's persistentFlags include flagKeyLockedInShareMode).
func TestKeyLockedInShareModeFlag(t *testing.T) {
	f := ApplyFlagsOps(0, SetKeyLocked, SetKeyLockedInShareMode)
	require.True(t, f.HasLocked() && f.HasLockedInShareMode())
	require.Equal(t, FlagKeyLocked|FlagKeyLockedInShareMode, f.Persistent())
	require.False(t, ApplyFlagsOps(f, SetKeyLockedInExclusiveMode).HasLockedInShareMode())
	require.True(t, ApplyFlagsOps(f, SetKeyLockedInExclusiveMode).HasLocked())

	b := New()
	key := []byte("k")
	require.NoError(t, b.UpdateFlags(key, SetKeyLocked, SetKeyLockedInShareMode))
	h := b.Staging()
	require.NoError(t, b.Set(key, []byte("v")))
	b.Cleanup(h) // the statement's write is undone, the lock stays
	got, ok := b.GetFlags(key)
	require.True(t, ok)
	require.True(t, got.HasLocked() && got.HasLockedInShareMode())
}
