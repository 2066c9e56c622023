package detector

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Test config types exercising every shape the convention supports: an
// embedded struct declared without help tags (helped from the embedding
// field), a nested object, an enum, lists, unsigned and float values.
type tGeom struct {
	Size int `json:"size"`
	Crop int `json:"crop"`
}

type tAug struct {
	Flip  bool    `json:"flip" help:"mirror images"`
	Angle float64 `json:"angle" help:"rotation in degrees"`
}

type tConfig struct {
	tGeom  `help.size:"resize side" help.crop:"crop side"`
	N      int      `json:"n" help:"a count"`
	Seed   uint64   `json:"seed" help:"seed"`
	Scale  float64  `json:"scale" help:"a scale"`
	Mode   string   `json:"mode" enum:"fast,exact" help:"speed"`
	Taps   []int    `json:"taps,omitempty" help:"indices"`
	Names  []string `json:"names,omitempty" help:"layer names"`
	Aug    tAug     `json:"aug" help:"augmentation"`
	hidden int      // unexported: not a key
	Skip   int      `json:"-"`
}

func tDefaults() tConfig {
	return tConfig{tGeom: tGeom{Size: 64}, N: 3, Scale: 0.5, Mode: "fast", Taps: []int{1, 2}, Aug: tAug{Angle: 10}}
}

func decodeT(t *testing.T, raw string) (tConfig, error) {
	t.Helper()
	c := tDefaults()
	err := DecodeConfig("tm", json.RawMessage(raw), &c)
	return c, err
}

func TestDecodeConfigOverDefaults(t *testing.T) {
	for _, raw := range []string{"", "  ", "null", "{}", " { } "} {
		c, err := decodeT(t, raw)
		if err != nil || !reflect.DeepEqual(c, tDefaults()) {
			t.Errorf("%q: got %+v, %v; want the defaults", raw, c, err)
		}
	}
	c, err := decodeT(t, `{"size":0,"n":7,"seed":18446744073709551615,"mode":"exact","taps":[],"names":["a","b"],"aug":{"flip":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := tDefaults()
	want.Size, want.N, want.Seed, want.Mode, want.Taps, want.Names = 0, 7, 1<<64-1, "exact", []int{}, []string{"a", "b"}
	want.Aug.Flip = true // angle absent: keeps its default 10
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	// null empties a list (its documented empty meaning).
	if c, err := decodeT(t, `{"taps":null}`); err != nil || c.Taps != nil {
		t.Errorf("taps null: got %v, %v", c.Taps, err)
	}
}

func TestDecodeConfigRefusals(t *testing.T) {
	cases := map[string]string{
		`{"bogus":1}`:           `tm config: unknown key "bogus" (valid keys: size, crop, n, seed, scale, mode, taps, names, aug)`,
		`{"scael":1}`:           `tm config: unknown key "scael", did you mean "scale"? (valid keys: size, crop, n, seed, scale, mode, taps, names, aug)`,
		`{"N":1}`:               `unknown key "N"`, // encoding/json alone would match it case-insensitively
		`{"hidden":1}`:          `unknown key "hidden"`,
		`{"Skip":1}`:            `unknown key "Skip"`,
		`{"n":"big"}`:           `tm config: key "n" wants int, got string`,
		`{"n":2.5}`:             `tm config: key "n" wants int, got number 2.5`,
		`{"seed":-1}`:           `tm config: key "seed" wants uint, got number -1`,
		`{"scale":true}`:        `tm config: key "scale" wants float, got bool`,
		`{"size":[1]}`:          `tm config: key "size" wants int, got array`,
		`{"taps":"1,2"}`:        `tm config: key "taps" wants list of int, got string`,
		`{"names":[1]}`:         `tm config: key "names" wants list of string, got number`,
		`{"mode":"slow"}`:       `tm config: key "mode": "slow" is not one of fast, exact`,
		`{"n":null}`:            `tm config: key "n" wants int, got null (leave the key out for the default)`,
		`{"aug":{"flipp":1}}`:   `tm config: unknown key "aug.flipp", did you mean "flip"? (valid keys: flip, angle)`,
		`{"aug":{"angle":"x"}}`: `tm config: key "aug.angle" wants float, got string`,
		`{"aug":3}`:             `tm config: key "aug" must be a JSON object`,
		`{"aug":null}`:          `tm config: key "aug" wants an object, got null`,
		`{"n":1,"n":2}`:         `tm config: key "n" given twice`,
		`[1]`:                   `tm config: the configuration must be a JSON object`,
		`{"n":1} {}`:            `tm config: data after the end of the configuration`,
		`{"n":1,}`:              `tm config: the configuration: invalid character '}'`,
	}
	for raw, want := range cases {
		c, err := decodeT(t, raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got error %v, want one containing %q", raw, err, want)
		}
		if !reflect.DeepEqual(c, tDefaults()) {
			t.Errorf("%s: the target changed despite the error: %+v", raw, c)
		}
	}
	// A failure after a good key leaves the target untouched as a whole.
	if c, err := decodeT(t, `{"n":9,"bogus":1}`); err == nil || c.N != 3 {
		t.Errorf("partial decode: n = %d, err %v; want 3 and an error", c.N, err)
	}
	var notPtr tConfig
	if err := DecodeConfig("tm", json.RawMessage(`{}`), notPtr); err == nil {
		t.Error("a non-pointer target was accepted")
	}
}

func TestConfigFieldsRefusesBadStructs(t *testing.T) {
	type dupEmbedded struct {
		tGeom `help.size:"x" help.crop:"y"`
		Size  int `json:"size" help:"again"`
	}
	type noTag struct {
		N int `help:"x"`
	}
	type typoHelp struct {
		tGeom `help.size:"x" help.corp:"y"`
	}
	type mapField struct {
		M map[string]int `json:"m" help:"x"`
	}
	type enumOnInt struct {
		N int `json:"n" enum:"1,2" help:"x"`
	}
	for _, v := range []any{dupEmbedded{}, noTag{}, typoHelp{}, mapField{}, enumOnInt{}, 3} {
		if _, err := configFields(reflect.TypeOf(v)); err == nil {
			t.Errorf("%T: accepted", v)
		}
	}
}

func TestRegisterMethodRefusesMissingHelp(t *testing.T) {
	type undocumented struct {
		N int `json:"n" help:"documented"`
		M int `json:"m"`
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), `config key "m" has no help tag`) {
			t.Errorf("panic %v, want one naming key m", r)
		}
		if _, ok := Lookup("tm_undocumented"); ok {
			t.Error("the refused method was registered")
		}
	}()
	RegisterMethod(Method{Name: "tm_undocumented", Summary: "s", New: func(json.RawMessage) (Detector, error) { return nil, nil },
		Defaults: func() any { return undocumented{} }})
}

func init() {
	RegisterMethod(Method{Name: "tm", Summary: "test method", New: func(json.RawMessage) (Detector, error) { return nil, nil },
		Defaults: func() any { return tDefaults() }})
}

func TestParamsAndTable(t *testing.T) {
	ps, err := Params("tm")
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{"size", "int", "64", "resize side"},
		{"crop", "int", "0", "crop side"},
		{"n", "int", "3", "a count"},
		{"seed", "uint", "0", "seed"},
		{"scale", "float", "0.5", "a scale"},
		{"mode", "fast|exact", "fast", "speed"},
		{"taps", "list of int", "1,2", "indices"},
		{"names", "list of string", "", "layer names"},
		{"aug.flip", "bool", "false", "mirror images"},
		{"aug.angle", "float", "10", "rotation in degrees"},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("Params:\n got %v\nwant %v", ps, want)
	}
	var b bytes.Buffer
	if err := WriteParams(&b, "tm"); err != nil {
		t.Fatal(err)
	}
	table := `tm: test method

KEY        TYPE            DEFAULT  MEANING
size       int             64       resize side
crop       int             0        crop side
n          int             3        a count
seed       uint            0        seed
scale      float           0.5      a scale
mode       fast|exact      fast     speed
taps       list of int     1,2      indices
names      list of string  -        layer names
aug.flip   bool            false    mirror images
aug.angle  float           10       rotation in degrees
`
	if b.String() != table {
		t.Errorf("WriteParams:\n%s\nwant\n%s", b.String(), table)
	}
	if _, err := Params("nonesuch"); err == nil {
		t.Error("Params of an unknown method succeeded")
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"componets", "components", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}, {"abc", "abc", 0}, {"größe", "große", 1} /* runes, not bytes */} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
	// Short keys get no suggestion for a two-edit difference: "k" is not "ks".
	if s := closest("kz", []string{"k", "dim"}); s != "" {
		t.Errorf("closest(kz) = %q, want none", s)
	}
}

func TestWrap(t *testing.T) {
	s := "a meaning long enough to need several lines when the column is twenty runes wide, with anextraordinarilylongwordthatcannotbesplit"
	lines := wrap(s, 20)
	if strings.Join(lines, " ") != strings.Join(strings.Fields(s), " ") {
		t.Errorf("wrap lost words: %q", lines)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 20 && strings.Contains(l, " ") {
			t.Errorf("line %q has %d runes", l, n)
		}
	}
	if got := wrap("", 20); len(got) != 1 || got[0] != "" {
		t.Errorf("wrap of empty help = %q, want one empty line", got)
	}
}
