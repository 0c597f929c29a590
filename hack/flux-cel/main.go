// Command flux-cel evaluates the healthCheckExprs of a Flux Kustomization against captured
// objects with Flux's own evaluator (cel.NewStatusEvaluator of github.com/fluxcd/pkg/runtime,
// which kustomize-controller runs), and computes kstatus (status.Compute of
// github.com/fluxcd/cli-utils, Flux's kstatus) for the same objects. Objects are decoded as
// the API machinery decodes a response (unstructured JSON: integers stay int64), because the
// evaluator's observedGeneration check reads int64 only.
//
// Usage: flux-cel [-testdata DIR] KUSTOMIZATION_YAML EXPECTATIONS_YAML
//
// EXPECTATIONS_YAML lists {input, healthCheck, kstatus}; inputs are paths relative to the
// expectations file; with -testdata, DIR/NAME for each input's file NAME (the e2e tier's
// fresh capture).
// Exits 1 if any result differs, naming it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

type expectation struct {
	Input       string `json:"input"`
	HealthCheck string `json:"healthCheck"`
	Kstatus     string `json:"kstatus"`
}

type kustomization struct {
	Spec struct {
		HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs"`
	} `json:"spec"`
}

func main() {
	testdata := flag.String("testdata", "", "read each input NAME from DIR/NAME")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: flux-cel [-testdata DIR] KUSTOMIZATION_YAML EXPECTATIONS_YAML")
		os.Exit(2)
	}
	failures, err := run(flag.Arg(0), flag.Arg(1), *testdata)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if failures > 0 {
		os.Exit(1)
	}
}

// run checks every expectation and returns how many differed.
func run(kustomizationPath, expectationsPath, testdata string) (int, error) {
	var k kustomization
	if err := readYAML(kustomizationPath, &k); err != nil {
		return 0, err
	}
	evaluators := map[string]*cel.StatusEvaluator{}
	for _, check := range k.Spec.HealthCheckExprs {
		evaluator, err := cel.NewStatusEvaluator(&check.HealthCheckExpressions)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", check.APIVersion, check.Kind, err)
		}
		evaluators[check.APIVersion+"/"+check.Kind] = evaluator
	}
	var expectations []expectation
	if err := readYAML(expectationsPath, &expectations); err != nil {
		return 0, err
	}
	failures := 0
	for _, want := range expectations {
		path := filepath.Join(filepath.Dir(expectationsPath), want.Input)
		if testdata != "" {
			path = filepath.Join(testdata, filepath.Base(want.Input))
		}
		obj, err := decode(path)
		if err != nil {
			return 0, err
		}
		evaluator, ok := evaluators[obj.GetAPIVersion()+"/"+obj.GetKind()]
		if !ok {
			return 0, fmt.Errorf("%s: no healthCheckExprs for %s %s", want.Input, obj.GetAPIVersion(), obj.GetKind())
		}
		health, err := evaluator.Evaluate(context.Background(), obj)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", want.Input, err)
		}
		computed, err := status.Compute(obj)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", want.Input, err)
		}
		got := expectation{Input: want.Input, HealthCheck: health.Status.String(), Kstatus: computed.Status.String()}
		if got == want {
			fmt.Printf("ok   %s healthCheck=%s kstatus=%s\n", want.Input, got.HealthCheck, got.Kstatus)
			continue
		}
		failures++
		fmt.Printf("FAIL %s: want healthCheck=%s kstatus=%s, got healthCheck=%s kstatus=%s (%s)\n",
			want.Input, want.HealthCheck, want.Kstatus, got.HealthCheck, got.Kstatus, computed.Message)
	}
	fmt.Printf("%d passed, %d failed\n", len(expectations)-failures, failures)
	return failures, nil
}

// decode reads a YAML object as the API machinery decodes a JSON response into unstructured.
func decode(path string) (*unstructured.Unstructured, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	jsonText, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(jsonText); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

func readYAML(path string, into any) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(text, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
