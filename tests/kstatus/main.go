// Command kstatus computes the kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status) of Kubernetes
// objects, the way Flux, kpt and the cli-utils status poller judge readiness. Test harness only:
// the product is Python.
//
// Usage: kstatus [FILE]   (FILE or stdin: one JSON object, a JSON list of objects, or a List kind)
//
// Prints one JSON line per object: {"name", "namespace", "kind", "status", "message", "conditions"}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Name       string             `json:"name"`
	Namespace  string             `json:"namespace,omitempty"`
	Kind       string             `json:"kind"`
	Status     string             `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions"`
	Error      string             `json:"error,omitempty"`
}

func readInput(args []string) ([]byte, error) {
	if len(args) > 0 && args[0] != "-" {
		return os.ReadFile(args[0])
	}
	return io.ReadAll(os.Stdin)
}

// objects accepts a single object, a JSON array of objects, or a Kubernetes List ({"items": [...]}).
// Numbers are decoded the Kubernetes way (integers as int64), as unstructured accessors expect.
func objects(data []byte) ([]map[string]interface{}, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var list []map[string]interface{}
		if err := utiljson.Unmarshal(data, &list); err != nil {
			return nil, err
		}
		return list, nil
	}
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if items, ok := obj["items"].([]interface{}); ok {
		if kind, _ := obj["kind"].(string); kind == "" || strings.HasSuffix(kind, "List") {
			out := make([]map[string]interface{}, 0, len(items))
			for _, it := range items {
				m, ok := it.(map[string]interface{})
				if !ok {
					return nil, fmt.Errorf("list item is not an object")
				}
				out = append(out, m)
			}
			return out, nil
		}
	}
	return []map[string]interface{}{obj}, nil
}

func main() {
	data, err := readInput(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(2)
	}
	objs, err := objects(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: invalid JSON:", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	failed := false
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		r := result{Name: u.GetName(), Namespace: u.GetNamespace(), Kind: u.GetKind(), Conditions: []status.Condition{}}
		res, err := status.Compute(u)
		if err != nil {
			r.Error = err.Error()
			failed = true
		}
		if res != nil {
			r.Status = res.Status.String()
			r.Message = res.Message
			if res.Conditions != nil {
				r.Conditions = res.Conditions
			}
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}
