// Command argocd-lua runs bulkhead's Argo CD resource customizations with Argo CD's own Lua
// code (github.com/argoproj/argo-cd/v3/util/lua), as argo-cd's TestLuaHealthScript and
// TestLuaResourceActionsScript run its built-in ones, but with the scripts handed over as
// argocd-cm hands them (resource.customizations.health.<group_kind> and
// resource.customizations.actions.<group_kind>, useOpenLibs false): no string library, os only
// through require("os"). Stricter than argo-cd's runner: discovery results are compared whole.
//
// Usage: argocd-lua [-testdata DIR] [-status-only] [-argocd-cm FILE [-write]] RESOURCE_CUSTOMIZATIONS_DIR
//
// -argocd-cm FILE checks that FILE is the argocd-cm patch that carries exactly these scripts
// (the README's snippet); with -write it writes FILE instead.
//
// argocd-lua -action NAME -object FILE RESOURCE_CUSTOMIZATIONS_DIR runs one action on the object
// (JSON or YAML, as read from the cluster) and prints the JSON merge patch that Argo CD's API
// server sends for it (jsonpatch.CreateMergePatch of the live object and the action's result),
// so the e2e tier can send it to the local cluster.
// -testdata DIR reads each health test's input testdata/NAME from DIR/NAME instead, and
// -status-only compares the health status but not the message: the e2e tier checks a fresh
// capture, whose messages quote other instants and Job names, against the committed
// expectations. Exits 1 if any case differs, naming it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/argoproj/gitops-engine/pkg/health"
	jsonpatch "github.com/evanphx/json-patch"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	applicationpkg "github.com/argoproj/argo-cd/v3/pkg/apiclient/application"
	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
)

// The run-now action writes a fresh token; the expected output holds freshToken in its place.
const (
	runNowAnnotation = "bulkhead.dev/run-now"
	freshToken       = "<a fresh token>"
)

type healthTests struct {
	Tests []struct {
		InputPath    string              `json:"inputPath"`
		HealthStatus health.HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string                 `json:"inputPath"`
		Result    []appv1.ResourceAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

type runner struct {
	testdata   string
	statusOnly bool
	failures   int
	cases      int
}

func main() {
	r := runner{}
	flag.StringVar(&r.testdata, "testdata", "", "read health inputs testdata/NAME from DIR/NAME")
	flag.BoolVar(&r.statusOnly, "status-only", false, "compare health statuses, not messages")
	argocdCM := flag.String("argocd-cm", "", "check FILE is the argocd-cm patch with these scripts")
	write := flag.Bool("write", false, "with -argocd-cm: write FILE")
	action := flag.String("action", "", "print the merge patch of action NAME on -object")
	objectPath := flag.String("object", "", "with -action: the live object")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua [-testdata DIR] [-status-only] [-argocd-cm FILE [-write]] RESOURCE_CUSTOMIZATIONS_DIR")
		os.Exit(2)
	}
	overrides := map[string]appv1.ResourceOverride{}
	var dirs []string
	err := filepath.Walk(flag.Arg(0), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.Name() != "health.lua" {
			return err
		}
		dir := filepath.Dir(path)
		override, err := argocdCMOverride(dir)
		overrides[groupKind(dir)] = override
		dirs = append(dirs, dir)
		return err
	})
	if err == nil && *action != "" {
		err = printActionPatch(overrides, *action, *objectPath)
		if err == nil {
			return
		}
	}
	for _, dir := range dirs {
		if err == nil {
			err = r.kind(dir, overrides)
		}
	}
	if err == nil && *argocdCM != "" {
		err = r.configMap(*argocdCM, overrides, *write)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("%d passed, %d failed\n", r.cases-r.failures, r.failures)
	if r.failures > 0 || r.cases == 0 {
		os.Exit(1)
	}
}

// printActionPatch prints the merge patch Argo CD's API server sends when a person runs the
// action on the object at path (server/application.go: RunResourceAction, patchResource).
func printActionPatch(overrides map[string]appv1.ResourceOverride, action, path string) error {
	live, err := object(path)
	if err != nil {
		return err
	}
	vm := lua.VM{ResourceOverrides: overrides}
	definition, err := vm.GetResourceAction(live, action)
	if err != nil {
		return err
	}
	impacted, err := vm.ExecuteResourceAction(live, definition.ActionLua, nil)
	if err != nil {
		return err
	}
	if len(impacted) != 1 || impacted[0].K8SOperation != lua.PatchOperation {
		return fmt.Errorf("%s: want one patch of the object, got %d impacted resources", action, len(impacted))
	}
	liveJSON, err := json.Marshal(live.Object)
	if err != nil {
		return err
	}
	newJSON, err := json.Marshal(impacted[0].UnstructuredObj.Object)
	if err != nil {
		return err
	}
	patch, err := jsonpatch.CreateMergePatch(liveJSON, newJSON)
	if err != nil {
		return err
	}
	fmt.Println(string(patch))
	return nil
}

func groupKind(dir string) string {
	return filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
}

// configMap compares (or writes) the argocd-cm patch that carries the overrides, under the keys
// Argo CD reads: resource.customizations.health.<group>_<kind> and .actions.<group>_<kind>.
func (r *runner) configMap(path string, overrides map[string]appv1.ResourceOverride, write bool) error {
	data := map[string]string{}
	for key, override := range overrides {
		name := strings.ReplaceAll(key, "/", "_")
		data["resource.customizations.health."+name] = override.HealthLua
		if override.Actions != "" {
			data["resource.customizations.actions."+name] = override.Actions
		}
	}
	text, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]string{"name": "argocd-cm", "namespace": "argocd"},
		"data":       data,
	})
	if err != nil {
		return err
	}
	text = append([]byte("# Generated by hack/argocd-lua from resource_customizations/ (make integrations-test checks it):\n"+
		"# kubectl patch configmap argocd-cm -n argocd --patch-file integrations/argocd/argocd-cm.yaml\n"), text...)
	if write {
		return os.WriteFile(path, text, 0o644)
	}
	current, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r.cases++
	if string(current) != string(text) {
		r.failures++
		fmt.Printf("FAIL %s differs from the scripts; write it again with -write\n", path)
		return nil
	}
	fmt.Printf("ok   %s carries the scripts\n", path)
	return nil
}

// kind runs one GROUP/KIND folder's health_test.yaml and actions/action_test.yaml, with the
// scripts of every folder given to Argo CD as argocd-cm gives them.
func (r *runner) kind(dir string, overrides map[string]appv1.ResourceOverride) error {
	key := groupKind(dir)
	vm := lua.VM{ResourceOverrides: overrides}

	var ht healthTests
	if err := readYAML(filepath.Join(dir, "health_test.yaml"), &ht); err != nil {
		return err
	}
	for _, test := range ht.Tests {
		path := filepath.Join(dir, test.InputPath)
		if r.testdata != "" && strings.HasPrefix(test.InputPath, "testdata/") {
			path = filepath.Join(r.testdata, strings.TrimPrefix(test.InputPath, "testdata/"))
		}
		obj, err := object(path)
		if err != nil {
			return err
		}
		name := key + " health " + test.InputPath
		script, useOpenLibs, err := vm.GetHealthScript(obj)
		if err != nil || script == "" {
			r.fail(name, fmt.Sprintf("no health script for %s: %v", key, err))
			continue
		}
		// As Argo CD's controller runs it (ResourceHealthOverrides.GetResourceHealth).
		vm.UseOpenLibs = useOpenLibs
		got, err := vm.ExecuteHealthLua(obj, script)
		if err != nil {
			r.fail(name, err.Error())
			continue
		}
		if r.statusOnly {
			got.Message = test.HealthStatus.Message
		}
		r.check(name, test.HealthStatus, *got)
	}

	actionsDir := filepath.Join(dir, "actions")
	if _, err := os.Stat(filepath.Join(actionsDir, "action_test.yaml")); os.IsNotExist(err) {
		return nil
	}
	var at actionTests
	if err := readYAML(filepath.Join(actionsDir, "action_test.yaml"), &at); err != nil {
		return err
	}
	for _, test := range at.DiscoveryTests {
		obj, err := object(filepath.Join(actionsDir, test.InputPath))
		if err != nil {
			return err
		}
		name := key + " discovery " + test.InputPath
		scripts, err := vm.GetResourceActionDiscovery(obj)
		if err != nil {
			r.fail(name, err.Error())
			continue
		}
		got, err := vm.ExecuteResourceActionDiscovery(obj, scripts)
		if err != nil {
			r.fail(name, err.Error())
			continue
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
		r.check(name, test.Result, got)
	}
	for _, test := range at.ActionTests {
		obj, err := object(filepath.Join(actionsDir, test.InputPath))
		if err != nil {
			return err
		}
		name := key + " action " + test.Action + " " + test.InputPath
		action, err := vm.GetResourceAction(obj, test.Action)
		if err != nil {
			r.fail(name, err.Error())
			continue
		}
		impacted, err := vm.ExecuteResourceAction(obj, action.ActionLua, []*applicationpkg.ResourceActionParameters{})
		if err != nil {
			r.fail(name, err.Error())
			continue
		}
		if len(impacted) != 1 || impacted[0].K8SOperation != lua.PatchOperation {
			r.fail(name, fmt.Sprintf("want one patch of the object, got %d impacted resources", len(impacted)))
			continue
		}
		expected, err := object(filepath.Join(actionsDir, test.ExpectedOutputPath))
		if err != nil {
			return err
		}
		got := impacted[0].UnstructuredObj
		if msg := freshRunNowToken(obj, got, expected); msg != "" {
			r.fail(name, msg)
			continue
		}
		r.check(name, normalized(expected.Object), normalized(got.Object))
	}
	return nil
}

// argocdCMOverride builds the ResourceOverride that argocd-cm's
// resource.customizations.health.<group_kind> and .actions.<group_kind> keys give Argo CD
// for the folder's health.lua and actions/ (discovery.lua, then each actions/NAME/action.lua).
func argocdCMOverride(dir string) (appv1.ResourceOverride, error) {
	healthLua, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return appv1.ResourceOverride{}, err
	}
	override := appv1.ResourceOverride{HealthLua: string(healthLua)}
	discovery, err := os.ReadFile(filepath.Join(dir, "actions", "discovery.lua"))
	if os.IsNotExist(err) {
		return override, nil
	} else if err != nil {
		return override, err
	}
	actions := appv1.ResourceActions{ActionDiscoveryLua: string(discovery)}
	scripts, err := filepath.Glob(filepath.Join(dir, "actions", "*", "action.lua"))
	if err != nil {
		return override, err
	}
	for _, script := range scripts {
		body, err := os.ReadFile(script)
		if err != nil {
			return override, err
		}
		actions.Definitions = append(actions.Definitions, appv1.ResourceActionDefinition{
			Name: filepath.Base(filepath.Dir(script)), ActionLua: string(body),
		})
	}
	text, err := yaml.Marshal(actions)
	override.Actions = string(text)
	return override, err
}

// freshRunNowToken checks, where the expected output says freshToken, that the action set
// bulkhead.dev/run-now to a new, non-empty value, and puts freshToken in its place; it returns
// what is wrong, or "".
func freshRunNowToken(input, got, expected *unstructured.Unstructured) string {
	if expected.GetAnnotations()[runNowAnnotation] != freshToken {
		return ""
	}
	token, set := got.GetAnnotations()[runNowAnnotation]
	if !set || token == "" || token == input.GetAnnotations()[runNowAnnotation] {
		return fmt.Sprintf("want a fresh %s token, got %q", runNowAnnotation, token)
	}
	annotations := got.GetAnnotations()
	annotations[runNowAnnotation] = freshToken
	got.SetAnnotations(annotations)
	return ""
}

// object reads an input the way argo-cd's getObj does (sigs.k8s.io/yaml into a map).
func object(path string) (*unstructured.Unstructured, error) {
	obj := map[string]any{}
	if err := readYAML(path, &obj); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func readYAML(path string, into any) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(text, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// normalized round-trips through JSON, so Lua's numbers (float64) compare equal to YAML's.
func normalized(obj map[string]any) any {
	text, _ := json.Marshal(obj)
	var out any
	_ = json.Unmarshal(text, &out)
	return out
}

func (r *runner) check(name string, want, got any) {
	if reflect.DeepEqual(want, got) {
		r.cases++
		fmt.Printf("ok   %s\n", name)
		return
	}
	wantText, _ := yaml.Marshal(want)
	gotText, _ := yaml.Marshal(got)
	r.fail(name, fmt.Sprintf("want:\n%s\ngot:\n%s", wantText, gotText))
}

func (r *runner) fail(name, msg string) {
	r.cases++
	r.failures++
	fmt.Printf("FAIL %s\n%s\n", name, msg)
}
