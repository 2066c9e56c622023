package detector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode/utf8"
)

// The configuration convention shared by every method: a method's config
// is a struct whose fields carry `json:"key"` and `help:"meaning"` tags
// (and `enum:"a,b"` for a string with fixed choices). The factory starts
// from the registered defaults and calls DecodeConfig, which reads the
// JSON object over them; Params and WriteParams describe the same struct,
// so the documented keys, types and defaults are the decoded ones.
//
// Fields of an embedded struct are keys of the outer object, as in
// encoding/json. When the embedded type is declared elsewhere without help
// tags, the embedding field supplies them as `help.<key>:"meaning"`. A
// non-embedded struct field is a nested object whose keys are written
// "outer.inner" in messages and tables.

// Param describes one configuration key of a method.
type Param struct {
	Key     string // JSON key; keys of a nested object are dotted, "outer.inner"
	Type    string // int, uint, float, bool, string, list of T, or the choices "a|b"
	Default string // the value the factory uses when the key is absent; "" for an empty string or list
	Help    string
}

// cfgField is one key of a config struct, resolved once per type.
type cfgField struct {
	key    string // full dotted key
	name   string // key within its own object
	index  []int  // field path from the root struct
	typ    string // Param.Type
	help   string
	enum   []string
	nested []cfgField // keys of a nested object; nil for a leaf
}

type cachedFields struct {
	fs  []cfgField
	err error
}

var fieldCache sync.Map // reflect.Type -> cachedFields

// configFields resolves the keys of a config struct type (or pointer to one).
func configFields(t reflect.Type) ([]cfgField, error) {
	if t == nil {
		return nil, errors.New("config is a nil interface, not a struct")
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if c, ok := fieldCache.Load(t); ok {
		return c.(cachedFields).fs, c.(cachedFields).err
	}
	var fs []cfgField
	var err error
	if t.Kind() != reflect.Struct {
		err = fmt.Errorf("config type %v is not a struct", t)
	} else {
		fs, err = structFields(t, nil, "", nil)
	}
	fieldCache.Store(t, cachedFields{fs, err})
	return fs, err
}

// structFields lists the keys of one JSON object: t's fields plus those
// promoted from embedded structs. embedTags are the tags of the embedding
// fields on the way down, which may carry help.<key> entries.
func structFields(t reflect.Type, index []int, prefix string, embedTags []reflect.StructTag) ([]cfgField, error) {
	var fs []cfgField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		jtag := sf.Tag.Get("json")
		name, _, _ := strings.Cut(jtag, ",")
		if jtag == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Anonymous && name == "" {
			if sf.Type.Kind() != reflect.Struct {
				return nil, fmt.Errorf("embedded field %s: only embedded struct values are supported", sf.Name)
			}
			sub, err := structFields(sf.Type, idx, prefix, append(append([]reflect.StructTag(nil), embedTags...), sf.Tag))
			if err != nil {
				return nil, err
			}
			// A help.<key> entry that names no promoted key is a typo.
			for _, k := range tagKeys(sf.Tag) {
				hk, ok := strings.CutPrefix(k, "help.")
				if ok && !hasName(sub, hk) {
					return nil, fmt.Errorf("embedded field %s: tag %s names no key of %v", sf.Name, k, sf.Type)
				}
			}
			fs = append(fs, sub...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("field %s has no json key", sf.Name)
		}
		f := cfgField{key: prefix + name, name: name, index: idx, help: sf.Tag.Get("help")}
		for j := len(embedTags) - 1; j >= 0 && f.help == ""; j-- {
			f.help = embedTags[j].Get("help." + name)
		}
		if sf.Type.Kind() == reflect.Struct {
			sub, err := structFields(sf.Type, idx, f.key+".", nil)
			if err != nil {
				return nil, err
			}
			f.typ, f.nested = "object", sub
			fs = append(fs, f)
			continue
		}
		typ, err := typeName(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", f.key, err)
		}
		f.typ = typ
		if e := sf.Tag.Get("enum"); e != "" {
			if sf.Type.Kind() != reflect.String {
				return nil, fmt.Errorf("key %q: enum tag on a %s", f.key, typ)
			}
			f.enum = strings.Split(e, ",")
			f.typ = strings.Join(f.enum, "|")
		}
		fs = append(fs, f)
	}
	// encoding/json would silently drop or shadow a key declared twice at
	// one level; a config must not depend on that.
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.name] {
			return nil, fmt.Errorf("key %q declared twice", f.key)
		}
		seen[f.name] = true
	}
	return fs, nil
}

func hasName(fs []cfgField, name string) bool {
	for _, f := range fs {
		if f.name == name {
			return true
		}
	}
	return false
}

// tagKeys lists the keys of a struct tag, following the syntax that
// reflect.StructTag.Lookup parses.
func tagKeys(tag reflect.StructTag) []string {
	var keys []string
	s := string(tag)
	for s != "" {
		s = strings.TrimLeft(s, " ")
		i := 0
		for i < len(s) && s[i] > ' ' && s[i] != ':' && s[i] != '"' && s[i] != 0x7f {
			i++
		}
		if i == 0 || i+1 >= len(s) || s[i] != ':' || s[i+1] != '"' {
			break
		}
		keys = append(keys, s[:i])
		s = s[i+1:]
		j := 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			break
		}
		s = s[j+1:]
	}
	return keys
}

func typeName(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.Bool:
		return "bool", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int", nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint", nil
	case reflect.Float32, reflect.Float64:
		return "float", nil
	case reflect.String:
		return "string", nil
	case reflect.Slice:
		e, err := typeName(t.Elem())
		if err != nil || t.Elem().Kind() == reflect.Slice {
			return "", fmt.Errorf("unsupported type %v", t)
		}
		return "list of " + e, nil
	}
	return "", fmt.Errorf("unsupported type %v", t)
}

// leaves flattens nested objects into their keys, in declaration order.
func leaves(fs []cfgField) []cfgField {
	var out []cfgField
	for _, f := range fs {
		if f.nested != nil {
			out = append(out, leaves(f.nested)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// DecodeConfig reads a method's JSON configuration object over c, a
// pointer to its config struct already holding the defaults; keys absent
// from raw keep them, and empty or null raw leaves c unchanged. It refuses,
// naming the key: an unknown key (listing the valid ones, and which
// methods do take it if it belongs to another), a key given twice, a value
// of the wrong type, and a string outside its enum choices. On error c is
// unchanged. Range checks stay with the method, which knows its limits.
func DecodeConfig(method string, raw json.RawMessage, c any) error {
	rv := reflect.ValueOf(c)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%s config: decode target %T is not a pointer to a struct", method, c)
	}
	fs, err := configFields(rv.Type())
	if err != nil {
		return fmt.Errorf("%s config: %v", method, err)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	work := reflect.New(rv.Elem().Type()).Elem()
	work.Set(rv.Elem())
	if err := decodeObject(method, "", raw, work, fs); err != nil {
		return err
	}
	rv.Elem().Set(work)
	return nil
}

// ParseConfig decodes raw over defaults with DecodeConfig's strict keys
// and validates the result: the whole of most methods' ParseConfig.
func ParseConfig[C interface{ Validate() error }](method string, raw json.RawMessage, defaults C) (C, error) {
	if err := DecodeConfig(method, raw, &defaults); err != nil {
		return defaults, err
	}
	return defaults, defaults.Validate()
}

// decodeObject decodes one JSON object (the root, or the nested object at
// key prefix) into the fields fs of root.
func decodeObject(method, prefix string, raw []byte, root reflect.Value, fs []cfgField) error {
	what := "the configuration"
	if prefix != "" {
		what = "key " + strconv.Quote(strings.TrimSuffix(prefix, "."))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s config: %s: %v", method, what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%s config: %s must be a JSON object", method, what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s config: %s: %v", method, what, err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("%s config: key %q: %v", method, prefix+key, err)
		}
		var f *cfgField
		for i := range fs {
			if fs[i].name == key {
				f = &fs[i]
			}
		}
		if f == nil {
			return unknownKey(method, prefix+key, key, fs)
		}
		if seen[key] {
			return fmt.Errorf("%s config: key %q given twice", method, f.key)
		}
		seen[key] = true
		if err := setField(method, root, f, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s config: %s: %v", method, what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s config: data after the end of %s", method, what)
	}
	return nil
}

func setField(method string, root reflect.Value, f *cfgField, val json.RawMessage) error {
	fv := root.FieldByIndex(f.index)
	isNull := string(val) == "null"
	if f.nested != nil {
		if isNull {
			return fmt.Errorf("%s config: key %q wants an object, got null (leave the key out for the defaults)", method, f.key)
		}
		return decodeObject(method, f.key+".", val, root, f.nested)
	}
	if isNull {
		// An empty list is a value (e.g. "taps": default choice); a null
		// number is not, and silently keeping the default would hide it.
		if fv.Kind() == reflect.Slice {
			fv.SetZero()
			return nil
		}
		return fmt.Errorf("%s config: key %q wants %s, got null (leave the key out for the default)", method, f.key, f.typ)
	}
	v := reflect.New(fv.Type())
	if err := json.Unmarshal(val, v.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s config: key %q wants %s, got %s", method, f.key, f.typ, te.Value)
		}
		return fmt.Errorf("%s config: key %q: %v", method, f.key, err)
	}
	if f.enum != nil {
		s := v.Elem().String()
		ok := false
		for _, e := range f.enum {
			ok = ok || s == e
		}
		if !ok {
			return fmt.Errorf("%s config: key %q: %q is not one of %s", method, f.key, s, strings.Join(f.enum, ", "))
		}
	}
	fv.Set(v.Elem())
	return nil
}

// unknownKey builds the refusal of key (name within its object): a close
// valid key if one looks misspelt, else the methods that do take it.
func unknownKey(method, key, name string, fs []cfgField) error {
	valid := make([]string, len(fs))
	for i, f := range fs {
		valid[i] = f.name
	}
	msg := fmt.Sprintf("%s config: unknown key %q", method, key)
	if s := closest(name, valid); s != "" {
		msg += fmt.Sprintf(", did you mean %q?", s)
	} else if others := methodsWithKey(key, method); len(others) == 1 {
		msg += fmt.Sprintf(": only %s takes it", others[0])
	} else if len(others) > 1 {
		msg += fmt.Sprintf(": only %s take it", strings.Join(others, ", "))
	}
	return fmt.Errorf("%s (valid keys: %s)", msg, strings.Join(valid, ", "))
}

// methodsWithKey lists the other registered methods whose config has key.
func methodsWithKey(key, except string) []string {
	var out []string
	for _, name := range Methods() {
		m, _ := Lookup(name)
		if name == except || m.Defaults == nil {
			continue
		}
		fs, err := configFields(reflect.TypeOf(m.Defaults()))
		if err != nil {
			continue
		}
		for _, f := range leaves(fs) {
			if f.key == key {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// closest returns the valid key within a small edit distance of s, if any:
// at most 2 edits, and fewer than half of s's length.
func closest(s string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if d := editDistance(s, v); d < bestD && 2*d < utf8.RuneCountInString(s) {
			best, bestD = v, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			sub := prev[j-1]
			if ra[i-1] != rb[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Params describes the configuration keys of a registered method, in
// declaration order, with the defaults its factory applies.
func Params(method string) ([]Param, error) {
	m, ok := Lookup(method)
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %v)", method, Methods())
	}
	if m.Defaults == nil {
		return nil, fmt.Errorf("method %s was registered without a configuration description", method)
	}
	def := reflect.ValueOf(m.Defaults())
	fs, err := configFields(def.Type())
	if err != nil {
		return nil, fmt.Errorf("method %s: %v", method, err)
	}
	if def.Kind() == reflect.Pointer {
		def = def.Elem()
	}
	var ps []Param
	for _, f := range leaves(fs) {
		ps = append(ps, Param{Key: f.key, Type: f.typ, Default: formatValue(def.FieldByIndex(f.index)), Help: f.help})
	}
	return ps, nil
}

// formatValue writes a default as a user would type it: strings bare,
// lists comma-separated (as the CLI's --layers takes them).
func formatValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.String:
		return v.String()
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// helpWidth is where WriteParams wraps the meaning column, so that the
// table stays readable in an 80-100 column terminal.
const helpWidth = 60

// WriteParams writes a method's one-line summary and a table of its
// configuration keys (key, type, default, meaning) for `vigil methods`
// and `vigil fit --method M --help`. An empty default prints as "-".
func WriteParams(w io.Writer, method string) error {
	ps, err := Params(method)
	if err != nil {
		return err
	}
	m, _ := Lookup(method)
	if _, err := fmt.Fprintf(w, "%s: %s\n\n", m.Name, m.Summary); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tMEANING")
	for _, p := range ps {
		def := p.Default
		if def == "" {
			def = "-"
		}
		lines := wrap(p.Help, helpWidth)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Key, p.Type, def, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t\t%s\n", l)
		}
	}
	return tw.Flush()
}

// wrap splits s into lines of at most width runes at spaces (a longer
// word gets a line of its own); it always returns at least one line.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
