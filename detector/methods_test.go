package detector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	_ "github.com/vigil-ad/vigil/detector/ae"
	_ "github.com/vigil-ad/vigil/detector/aegmm"
	_ "github.com/vigil-ad/vigil/detector/dagmm"
	_ "github.com/vigil-ad/vigil/detector/deepsvdd"
	_ "github.com/vigil-ad/vigil/detector/geotrans"
	_ "github.com/vigil-ad/vigil/detector/knn"
	_ "github.com/vigil-ad/vigil/detector/padim"
	_ "github.com/vigil-ad/vigil/detector/patchcore"
	_ "github.com/vigil-ad/vigil/detector/pcarecon"
	_ "github.com/vigil-ad/vigil/detector/riad"
	_ "github.com/vigil-ad/vigil/detector/students"
	_ "github.com/vigil-ad/vigil/detector/svdd"
)

// The methods the CLI offers; each must follow the config convention.
var methods = []string{"ae", "aegmm", "dagmm", "deepsvdd", "geotrans", "knn", "padim", "patchcore", "pcarecon", "riad", "students", "svdd"}

// nestedJSON writes {"a":{"b":v}} for the dotted key "a.b" (keys of a
// section such as train.*).
func nestedJSON(key, v string) string {
	parts := strings.Split(key, ".")
	out := v
	for i := len(parts) - 1; i >= 0; i-- {
		out = fmt.Sprintf(`{%q:%s}`, parts[i], out)
	}
	return out
}

// flatten turns nested config objects into dotted keys, as Params names them.
func flatten(prefix string, m map[string]any, out map[string]any) map[string]any {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
	return out
}

func keys(t *testing.T, method string) []string {
	t.Helper()
	ps, err := detector.Params(method)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, p := range ps {
		ks = append(ks, p.Key)
	}
	return ks
}

func newErr(method, raw string) error {
	_, err := detector.New(method, json.RawMessage(raw))
	return err
}

func TestUnknownKeyRefusedByName(t *testing.T) {
	for _, m := range methods {
		err := newErr(m, `{"seed":1,"bogus_key":2}`)
		// At the top level a section (train) is one key.
		var top []string
		for _, k := range keys(t, m) {
			k, _, _ = strings.Cut(k, ".")
			if len(top) == 0 || top[len(top)-1] != k {
				top = append(top, k)
			}
		}
		want := fmt.Sprintf(`%s config: unknown key "bogus_key" (valid keys: %s)`, m, strings.Join(top, ", "))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", m, err, want)
		}
	}
	err := newErr("pcarecon", `{"componets":2}`)
	if err == nil || !strings.Contains(err.Error(), `unknown key "componets", did you mean "components"?`) {
		t.Errorf("pcarecon componets: got %v", err)
	}
}

// The CLI adds --backbone, --backbone-dir, --layers and --crop to the
// config only when given; pcarecon has no backbone and must say so
// rather than ignore them.
func TestPcareconRefusesBackboneKeys(t *testing.T) {
	for _, raw := range []string{`{"backbone":"mobilenet_v2"}`, `{"backbone_dir":"/tmp"}`, `{"layers":["a"]}`, `{"crop":224}`} {
		err := newErr("pcarecon", raw)
		// (This test binary also registers a test method "tm" with crop.)
		if err == nil || !strings.Contains(err.Error(), `: only knn, padim, patchcore`) ||
			!strings.Contains(err.Error(), `take it (valid keys: size, gray, patch,`) {
			t.Errorf("pcarecon %s: got %v", raw, err)
		}
	}
}

// wrongValue returns JSON of a type that a key of type typ cannot take.
func wrongValue(typ string) string {
	switch {
	case strings.HasPrefix(typ, "list of "), typ == "bool":
		return `"x"`
	}
	return `[1]` // numbers, strings and enums all refuse an array
}

func TestWrongTypeRefusedNamingKey(t *testing.T) {
	for _, m := range methods {
		ps, _ := detector.Params(m)
		for _, p := range ps {
			err := newErr(m, nestedJSON(p.Key, wrongValue(p.Type)))
			want := fmt.Sprintf(`%s config: key %q wants `, m, p.Key)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %s: got %v, want an error containing %q", m, p.Key, err, want)
			}
		}
	}
}

func TestRangeRefusedNamingKey(t *testing.T) {
	for _, c := range []struct{ method, raw, key string }{
		{"knn", `{"dim":0}`, "dim"}, {"knn", `{"k":-1}`, "k"}, {"knn", `{"clusters":-2}`, "clusters"},
		{"knn", `{"iters":0}`, "iters"}, {"knn", `{"sigma":-1}`, "sigma"}, {"knn", `{"batch":0}`, "batch"},
		{"knn", `{"size":100}`, "size"}, {"knn", `{"crop":512}`, "crop"}, {"knn", `{"taps":[-1]}`, "taps"},
		{"knn", `{"backbone":""}`, "backbone"}, {"knn", `{"mode":"pixel"}`, "mode"},
		{"padim", `{"dim":0}`, "dim"}, {"padim", `{"eps":-0.1}`, "eps"}, {"padim", `{"sigma":-1}`, "sigma"},
		{"padim", `{"batch":0}`, "batch"}, {"padim", `{"taps":[0,-3]}`, "taps"},
		{"patchcore", `{"ratio":0}`, "ratio"}, {"patchcore", `{"ratio":1.5}`, "ratio"}, {"patchcore", `{"max_bank":0}`, "max_bank"},
		{"patchcore", `{"proj_dim":0}`, "proj_dim"}, {"patchcore", `{"num_neighbors":0}`, "num_neighbors"},
		{"patchcore", `{"neighbourhood":0}`, "neighbourhood"}, {"patchcore", `{"sigma":-1}`, "sigma"},
		{"pcarecon", `{"patch":0}`, "patch"}, {"pcarecon", `{"components":0}`, "components"}, {"pcarecon", `{"score":"mean"}`, "score"},
	} {
		err := newErr(c.method, c.raw)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s %s: got %v, want an error naming %s", c.method, c.raw, err, c.key)
		}
	}
}

// configJSON is what a detector built from raw reports as its config,
// as the model file stores it.
func configJSON(t *testing.T, method, raw string) map[string]any {
	t.Helper()
	d, err := detector.New(method, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("%s %s: %v", method, raw, err)
	}
	b, err := json.Marshal(d.Config())
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonText writes a decoded JSON value the way Params writes defaults.
func jsonText(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = jsonText(e)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func TestParamsCompleteAndTrue(t *testing.T) {
	for _, m := range methods {
		meth, ok := detector.Lookup(m)
		if !ok || meth.Summary == "" || strings.Contains(meth.Summary, "\n") {
			t.Errorf("%s: summary %q, want one non-empty line", m, meth.Summary)
		}
		ps, err := detector.Params(m)
		if err != nil {
			t.Fatal(err)
		}
		// The defaults shown are those a detector built from {} reports.
		cfg := flatten("", configJSON(t, m, `{}`), map[string]any{})
		seen := map[string]bool{}
		for _, p := range ps {
			if p.Help == "" || p.Type == "" {
				t.Errorf("%s %s: help %q, type %q; both are required", m, p.Key, p.Help, p.Type)
			}
			seen[p.Key] = true
			v, ok := cfg[p.Key]
			switch {
			case ok && jsonText(v) != p.Default:
				t.Errorf("%s %s: Params default %q, detector from {} has %q", m, p.Key, p.Default, jsonText(v))
			case !ok && p.Default != "" && p.Default != "0" && p.Default != "false":
				t.Errorf("%s %s: Params default %q, but the detector's config omits the key", m, p.Key, p.Default)
			}
		}
		for k := range cfg {
			if !seen[k] {
				t.Errorf("%s: config key %q missing from Params", m, k)
			}
		}
	}
}

// A saved config (every key Config reports) decodes back to the same
// config, so strict decoding never refuses a model file's own config.
func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []struct{ method, raw string }{
		{"knn", `{}`}, {"knn", `{"mode":"patch","taps":[1,2],"layers":["a","b"],"backbone_dir":"/x","crop":192}`},
		{"padim", `{}`}, {"padim", `{"half":true,"sigma":0,"eps":0}`},
		{"patchcore", `{}`}, {"patchcore", `{"half":true,"sigma":0,"taps":[0]}`},
		{"pcarecon", `{}`}, {"pcarecon", `{"scales":[1,2],"score":"topk","gray":true,"size":0}`},
	} {
		first := configJSON(t, c.method, c.raw)
		b, _ := json.Marshal(first)
		if again := configJSON(t, c.method, string(b)); !reflect.DeepEqual(first, again) {
			t.Errorf("%s %s: config %v decodes to %v", c.method, c.raw, first, again)
		}
	}
}

// Explicit zeros mean what the key documents instead of "use the default".
func TestExplicitZeroKept(t *testing.T) {
	for _, m := range []string{"knn", "padim", "patchcore"} {
		if got := configJSON(t, m, `{"sigma":0}`)["sigma"]; got != 0.0 {
			t.Errorf("%s: sigma 0 became %v", m, got)
		}
	}
	// knn's clusters 0 is documented as automatic: 2048 centroids in patch mode.
	if got := configJSON(t, "knn", `{"mode":"patch","clusters":0}`)["clusters"]; got != 2048.0 {
		t.Errorf("knn patch clusters 0 became %v, want 2048", got)
	}
}

func TestWriteParamsEveryMethod(t *testing.T) {
	for _, m := range methods {
		var b bytes.Buffer
		if err := detector.WriteParams(&b, m); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		if !strings.HasPrefix(lines[0], m+": ") || !strings.HasPrefix(lines[2], "KEY ") {
			t.Errorf("%s: table starts %q", m, lines[:3])
		}
		for _, k := range keys(t, m) {
			if !strings.Contains(b.String(), "\n"+k+" ") {
				t.Errorf("%s: key %s has no row:\n%s", m, k, b.String())
			}
		}
	}
}
