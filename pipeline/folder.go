package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// A models folder holds DIR/NAME.safetensors or DIR/NAME/model.safetensors
// (the layout 'vigil demo' writes). The server and the workers both look
// models up by name in such a folder; the rules live here so that the two
// agree on which file a name means and on what stays out of reach.

// modelName is what a model may be called: it becomes a URL path segment,
// a metric label and a file name, never a path.
var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidModelName reports whether name may name a model in a models folder.
func ValidModelName(name string) bool { return modelName.MatchString(name) }

// ErrUnknownModel is returned (wrapped) by ModelFile when the folder holds
// no model of that name.
var ErrUnknownModel = errors.New("unknown model")

// ModelFile returns the file of the model called name in dir:
// dir/name.safetensors when it exists, else dir/name/model.safetensors. A
// name that is not valid, or a file whose real path (after symbolic links)
// lies outside dir, is refused with an error saying which.
func ModelFile(dir, name string) (string, error) {
	if !ValidModelName(name) {
		return "", fmt.Errorf("model name %q is not valid (letters, digits, '_', '.', '-'; at most 128)", name)
	}
	for _, p := range []string{filepath.Join(dir, name+".safetensors"), filepath.Join(dir, name, "model.safetensors")} {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		if err := inside(dir, p); err != nil {
			return "", fmt.Errorf("model %q: %w", name, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("%w %q (no %s.safetensors or %s/model.safetensors in %s)", ErrUnknownModel, name, name, name, dir)
}

// inside refuses path when its real location is not under dir's.
func inside(dir, path string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("models folder %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rel, err := filepath.Rel(realDir, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s points outside the models folder %s", path, dir)
	}
	return nil
}

// SkippedModel is an entry of a models folder that ModelFiles does not
// list, with the reason.
type SkippedModel struct {
	Path   string
	Reason string
}

// ModelFiles lists the models in dir by name, each resolved by ModelFile,
// and the entries it skipped (invalid names, files that point outside dir,
// a NAME/model.safetensors shadowed by NAME.safetensors). Names starting
// with '.' (temporary files of atomic saves) are ignored silently.
func ModelFiles(dir string) (map[string]string, []SkippedModel, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("models folder: %w", err)
	}
	out := map[string]string{}
	var skipped []SkippedModel
	names := map[string][]string{} // name -> the entries that claim it
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			continue
		}
		p := filepath.Join(dir, n)
		switch {
		case strings.HasSuffix(n, ".safetensors"):
			name := strings.TrimSuffix(n, ".safetensors")
			names[name] = append(names[name], p)
		default:
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				if _, err := os.Stat(filepath.Join(p, "model.safetensors")); err == nil {
					names[n] = append(names[n], filepath.Join(p, "model.safetensors"))
				}
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		claims := names[name]
		if !ValidModelName(name) {
			for _, p := range claims {
				skipped = append(skipped, SkippedModel{p, "its name is not a valid model name"})
			}
			continue
		}
		p, err := ModelFile(dir, name)
		if err != nil {
			for _, c := range claims {
				skipped = append(skipped, SkippedModel{c, err.Error()})
			}
			continue
		}
		out[name] = p
		for _, c := range claims {
			if c != p {
				skipped = append(skipped, SkippedModel{c, fmt.Sprintf("model %q is served from %s", name, p)})
			}
		}
	}
	return out, skipped, nil
}
