package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/creditjambo/creditjambo/"

// allowedImports is STYLE.md's dependency direction: cmd → api →
// {ledger, auth, jobs}, jobs → {ledger, auth, templates}; ledger, auth,
// templates and sql import nothing of ours. Packages not listed may import
// only what is listed for them here.
var allowedImports = map[string][]string{
	"ledger":      {},
	"auth":        {},
	"templates":   {},
	"sql":         {},
	"sql/sqltest": {"sql"},
	"jobs":        {"ledger", "auth", "templates"},
	"api":         {"ledger", "auth", "jobs", "templates"},
}

// TestDependencyDirection fails when a package imports one of ours that the
// house style forbids, directly or through another.
func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		top := ownerOf(name)
		allowed, listed := allowedImports[top]
		if !listed {
			continue
		}
		checked++
		for _, d := range p.Deps {
			dep, ok := strings.CutPrefix(d, module)
			if !ok {
				continue
			}
			dtop := ownerOf(dep)
			if dtop == top || contains(allowed, dtop) {
				continue
			}
			t.Errorf("%s imports %s: against the dependency direction of STYLE.md", name, dep)
		}
	}
	if checked < 3 {
		t.Fatalf("checked only %d packages: is go list seeing the module?", checked)
	}
}

// ownerOf maps a package path inside the module to its entry in
// allowedImports: sql/sqltest stands alone, every other sub-package counts
// as its top-level folder.
func ownerOf(path string) string {
	if path == "sql/sqltest" || strings.HasPrefix(path, "sql/sqltest/") {
		return "sql/sqltest"
	}
	top, _, _ := strings.Cut(path, "/")
	return top
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
