package detector

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Method is a registered detection method: its factory plus what the CLI
// needs to describe it without building one.
type Method struct {
	Name    string // registry name, e.g. "pcarecon"
	Summary string // one line for `vigil methods`
	New     Factory
	// Defaults returns the configuration struct (value or pointer) that
	// New starts from before decoding the JSON over it with DecodeConfig;
	// Params reflects over it, so the table shows the real defaults.
	Defaults func() any
}

var (
	regMu    sync.RWMutex
	registry = map[string]Method{}
)

// RegisterMethod makes a method available by name. It panics on a
// duplicate name, a missing factory or defaults, or a defaults struct that
// cannot be described (a key without a help tag, a duplicate key, an
// unsupported field type): all programming errors, caught at init.
func RegisterMethod(m Method) {
	if m.Name == "" || m.New == nil || m.Defaults == nil || m.Summary == "" {
		panic(fmt.Sprintf("detector: method %q registered without name, summary, factory or defaults", m.Name))
	}
	fs, err := configFields(reflect.TypeOf(m.Defaults()))
	if err != nil {
		panic(fmt.Sprintf("detector: method %s: %v", m.Name, err))
	}
	for _, f := range leaves(fs) {
		if f.help == "" {
			panic(fmt.Sprintf("detector: method %s: config key %q has no help tag", m.Name, f.key))
		}
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[m.Name]; dup {
		panic("detector: method registered twice: " + m.Name)
	}
	registry[m.Name] = m
}

// Register makes a method available by name with no description, so
// Params and WriteParams refuse it; it panics on a duplicate. Real methods
// use RegisterMethod; this remains for test doubles.
func Register(name string, f Factory) {
	if name == "" || f == nil {
		panic(fmt.Sprintf("detector: method %q registered without name or factory", name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("detector: method registered twice: " + name)
	}
	registry[name] = Method{Name: name, New: f}
}

// Lookup returns the registered method of that name.
func Lookup(name string) (Method, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	m, ok := registry[name]
	return m, ok
}

// Methods lists the registered method names, sorted.
func Methods() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New makes an unfitted detector of the named method.
func New(name string, config json.RawMessage) (Detector, error) {
	m, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %v)", name, Methods())
	}
	d, err := m.New(config)
	if err != nil {
		if strings.HasPrefix(err.Error(), name+" ") {
			return nil, err // already names the method ("pcarecon config: ...")
		}
		return nil, fmt.Errorf("method %s: %w", name, err)
	}
	return d, nil
}
