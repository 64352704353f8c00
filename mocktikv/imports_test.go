package mocktikv

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoClientImports keeps mocktikv independent of the client it tests:
// no file of the package or its internal packages may import the plan
// layer or the clients (docs/ARCHITECTURE.md).
func TestNoClientImports(t *testing.T) {
	forbidden := []string{
		"github.com/tikvgo/tikv/pipeline",
		"github.com/tikvgo/tikv/plans",
		"github.com/tikvgo/tikv/raw",
		"github.com/tikvgo/tikv/txn",
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "github.com/tikvgo/tikv" {
				t.Errorf("%s imports the root package", path)
			}
			for _, bad := range forbidden {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s imports %s", path, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
