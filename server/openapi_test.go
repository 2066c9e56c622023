package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// validate checks v (decoded JSON) against the subset of JSON Schema the
// document uses: type (one or several), properties, required,
// additionalProperties false, items, enum, oneOf, $ref.
func validate(doc map[string]any, schema map[string]any, v any, at string) error {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		s, ok := doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: unresolved $ref %s", at, ref)
		}
		return validate(doc, s, v, at)
	}
	if alts, ok := schema["oneOf"].([]any); ok {
		n := 0
		var errs []string
		for _, a := range alts {
			if err := validate(doc, a.(map[string]any), v, at); err == nil {
				n++
			} else {
				errs = append(errs, err.Error())
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf (%s)", at, n, strings.Join(errs, "; "))
		}
		return nil
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s, want %v", at, jsonType(v), types)
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := v[r]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		for k, x := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, ok := schema["additionalProperties"].(bool); ok && !ap {
					return fmt.Errorf("%s: property %q is not in the schema", at, k)
				}
				continue
			}
			if err := validate(doc, ps, x, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, x := range v {
				if err := validate(doc, items, x, at+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, x.(string))
		}
	}
	return out
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestOpenAPI checks the document against the server: every API route is
// documented and every documented path is a route; real requests that
// reach each documented operation answer with a documented status, and
// their JSON bodies validate against the documented schema.
func TestOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	s0, err := New(Config{ModelsDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, rt := range s0.routeTable() {
		for _, p := range rt.api {
			routed[p] = true
			if _, ok := paths[p]; !ok {
				t.Errorf("route %s (%s) is not in the OpenAPI document", p, rt.pattern)
			}
		}
	}
	for p := range paths {
		if !routed[p] {
			t.Errorf("documented path %s is not a route", p)
		}
	}

	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, "")
	os.MkdirAll(filepath.Join(dir, "rep"), 0o755)
	os.WriteFile(filepath.Join(dir, "rep", "index.html"), []byte("<html></html>"), 0o644)
	os.WriteFile(filepath.Join(dir, "rep", "metrics.json"), []byte(`{"title":"t","metrics":{"image_auroc":0.5}}`), 0o644)
	_, ts := startServer(t, Config{ModelsDir: dir, MaxPixels: 2000})
	_, tsTok := startServer(t, Config{ModelsDir: dir, Token: "tok"})
	loading, _ := New(Config{ModelsDir: dir, Logger: quietLogger()}) // never started: loading
	tsLoad := httptest.NewServer(loading.Handler())
	defer tsLoad.Close()

	rng := rand.New(rand.NewPCG(9, 9))
	img := pngBytes(t, defectImage(rng))
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	w, _ := mw.CreateFormFile("image", "a.png")
	w.Write(img)
	mw.Close()
	var urlMap string
	type probe struct {
		base, method, path, doc string
		body                    []byte
		hdr                     map[string]string
	}
	probes := []probe{
		{ts.URL, "GET", "/healthz", "/healthz", nil, nil},
		{ts.URL, "GET", "/readyz", "/readyz", nil, nil},
		{tsLoad.URL, "GET", "/readyz", "/readyz", nil, nil},
		{ts.URL, "GET", "/metrics", "/metrics", nil, nil},
		{tsTok.URL, "GET", "/metrics", "/metrics", nil, nil},
		{ts.URL, "GET", "/openapi.json", "/openapi.json", nil, nil},
		{tsTok.URL, "GET", "/openapi.json", "/openapi.json", nil, nil},
		{ts.URL, "GET", "/v1/models", "/v1/models", nil, nil},
		{tsTok.URL, "GET", "/v1/models", "/v1/models", nil, nil},
		{tsLoad.URL, "GET", "/v1/models", "/v1/models", nil, nil},
		{ts.URL, "GET", "/v1/models/m", "/v1/models/{name}", nil, nil},
		{ts.URL, "GET", "/v1/models/zz", "/v1/models/{name}", nil, nil},
		{tsTok.URL, "GET", "/v1/models/m", "/v1/models/{name}", nil, nil},
		{tsLoad.URL, "GET", "/v1/models/m", "/v1/models/{name}", nil, nil},
		{ts.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", img, nil},
		{ts.URL, "POST", "/v1/models/m:predict?map=url", "/v1/models/{name}:predict", img, nil},
		{ts.URL, "POST", "/v1/models/m:predict?map=none", "/v1/models/{name}:predict", mp.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()}},
		{ts.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", []byte("junk"), nil},
		{ts.URL, "POST", "/v1/models/zz:predict", "/v1/models/{name}:predict", img, nil},
		{ts.URL, "PUT", "/v1/models/m:predict", "/v1/models/{name}:predict", img, nil},
		{ts.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", pngBytes(t, imageio.New(1, 64, 64)), nil},
		{ts.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", []byte("a=1"), map[string]string{"Content-Type": "multipart/mixed; boundary=x"}},
		{tsTok.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", img, nil},
		{tsLoad.URL, "POST", "/v1/models/m:predict", "/v1/models/{name}:predict", img, nil},
		{ts.URL, "GET", "/v1/maps/feedface", "/v1/maps/{id}", nil, nil},
		{tsTok.URL, "GET", "/v1/maps/feedface", "/v1/maps/{id}", nil, nil},
		{ts.URL, "GET", "/v1/reports", "/v1/reports", nil, nil},
		{tsTok.URL, "GET", "/v1/reports", "/v1/reports", nil, nil},
	}
	seen := map[string]map[string]bool{} // doc path -> statuses reached
	check := func(p probe, r reply) {
		t.Helper()
		op, ok := paths[p.doc].(map[string]any)[strings.ToLower(p.method)].(map[string]any)
		status := strconv.Itoa(r.status)
		if !ok {
			// a method the path does not document must be refused
			if r.status != 405 {
				t.Errorf("%s %s: undocumented method answered %d", p.method, p.path, r.status)
			}
			op = paths[p.doc].(map[string]any)["post"].(map[string]any)
		}
		resp, ok := op["responses"].(map[string]any)[status].(map[string]any)
		if !ok {
			t.Errorf("%s %s: status %s is not documented", p.method, p.path, status)
			return
		}
		if seen[p.doc] == nil {
			seen[p.doc] = map[string]bool{}
		}
		seen[p.doc][status] = true
		if ref, ok := resp["$ref"].(string); ok {
			resp = doc["components"].(map[string]any)["responses"].(map[string]any)[strings.TrimPrefix(ref, "#/components/responses/")].(map[string]any)
		}
		content := resp["content"].(map[string]any)
		ct := strings.TrimSpace(strings.Split(r.header.Get("Content-Type"), ";")[0])
		media, ok := content[ct].(map[string]any)
		if !ok {
			t.Errorf("%s %s: %s: content type %q not documented (%v)", p.method, p.path, status, ct, content)
			return
		}
		if ct != "application/json" {
			return
		}
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Errorf("%s %s: body is not JSON: %v", p.method, p.path, err)
			return
		}
		if err := validate(doc, media["schema"].(map[string]any), v, "body"); err != nil {
			t.Errorf("%s %s (%s): %v\n%s", p.method, p.path, status, err, r.body)
		}
	}
	for _, p := range probes {
		r := call(t, p.method, p.base+p.path, p.body, p.hdr)
		check(p, r)
		if strings.Contains(p.path, "map=url") && r.status == 200 {
			var pr PredictResponse
			json.Unmarshal(r.body, &pr)
			urlMap = pr.Results[0].Map.URL
		}
	}
	if urlMap == "" {
		t.Fatal("no map URL returned")
	}
	check(probe{ts.URL, "GET", urlMap, "/v1/maps/{id}", nil, nil}, call(t, "GET", ts.URL+urlMap, nil, nil))
	var keys []string
	for p, st := range seen {
		var ss []string
		for s := range st {
			ss = append(ss, s)
		}
		sort.Strings(ss)
		keys = append(keys, p+" "+strings.Join(ss, ","))
	}
	sort.Strings(keys)
	t.Logf("statuses reached:\n%s", strings.Join(keys, "\n"))
	for p := range paths {
		if len(seen[p]) == 0 {
			t.Errorf("no probe reached %s", p)
		}
	}
}
