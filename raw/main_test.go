package raw_test

import (
	"testing"

	pingcaplog "github.com/pingcap/log"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	// The real PD client logs its connection life cycle at INFO through
	// pingcap/log's global logger; keep test output readable.
	pingcaplog.SetLevel(zapcore.WarnLevel)
	goleak.VerifyTestMain(m)
}
