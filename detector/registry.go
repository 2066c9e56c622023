package detector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a method available by name; it panics on a duplicate,
// which is a programming error caught at init.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("detector: method registered twice: " + name)
	}
	registry[name] = f
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
	regMu.RLock()
	f, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %v)", name, Methods())
	}
	d, err := f(config)
	if err != nil {
		return nil, fmt.Errorf("method %s: %w", name, err)
	}
	return d, nil
}

// DecodeConfig unmarshals a method's JSON configuration into c, refusing
// unknown fields so a misspelt or inapplicable option is reported by name
// instead of silently ignored. Empty input leaves c unchanged.
func DecodeConfig(method string, raw json.RawMessage, c any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%s config: %v", method, err)
	}
	return nil
}
