package pipeline

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// OptionError reports an option that is invalid before any data is read
// (the command line maps it to a usage error). Field is the option's name
// as the command line spells it, e.g. "alpha" or "out".
type OptionError struct {
	Field string
	Msg   string
}

func (e *OptionError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return "--" + e.Field + ": " + e.Msg
}

func optErr(field, format string, a ...any) error {
	return &OptionError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// IsOptionError reports whether err is (or wraps) an OptionError.
func IsOptionError(err error) bool {
	var oe *OptionError
	return errors.As(err, &oe)
}

func checkAlpha(alpha float64) error {
	if math.IsNaN(alpha) || alpha <= 0 || alpha >= 1 {
		return optErr("alpha", "must be in (0,1), got %g", alpha)
	}
	return nil
}

// checkOutFile checks that path can become a file: not an existing folder,
// its folder exists and is writable.
func checkOutFile(field, path string) error {
	if path == "" {
		return optErr(field, "is required")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return optErr(field, "%s is a folder; give a file name", path)
	}
	return checkWritableDir(field, filepath.Dir(path), false)
}

// CheckOutDir checks that dir is (or can become) a writable folder; the
// command line checks a report folder with it before it loads anything.
func CheckOutDir(field, dir string) error { return checkOutDir(field, dir) }

func checkOutDir(field, dir string) error {
	if dir == "" {
		return optErr(field, "is required")
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return optErr(field, "%s exists and is not a folder", dir)
	case err == nil:
		return checkWritableDir(field, dir, true)
	case errors.Is(err, os.ErrNotExist):
		// created later: its nearest existing parent must be writable
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			if _, err := os.Stat(parent); err == nil {
				return checkWritableDir(field, parent, false)
			}
			next := filepath.Dir(parent)
			if next == parent {
				return optErr(field, "no existing parent folder for %s", dir)
			}
			parent = next
		}
	default:
		return optErr(field, "%v", err)
	}
}

// checkWritableDir probes dir by creating and removing a temporary file.
func checkWritableDir(field, dir string, isTarget bool) error {
	st, err := os.Stat(dir)
	if err != nil {
		return optErr(field, "folder %s does not exist", dir)
	}
	if !st.IsDir() {
		return optErr(field, "%s is not a folder", dir)
	}
	f, err := os.CreateTemp(dir, ".vigil-probe-*")
	if err != nil {
		what := "folder"
		if !isTarget {
			what = "parent folder"
		}
		return optErr(field, "%s %s is not writable: %v", what, dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkInput checks that a path given as input exists (file or folder as
// wanted).
func checkInput(field, path string, wantDir bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return optErr(field, "%s does not exist", path)
	}
	if wantDir && !st.IsDir() {
		return optErr(field, "%s is not a folder", path)
	}
	if !wantDir && st.IsDir() {
		return optErr(field, "%s is a folder, not a file", path)
	}
	return nil
}

// ImageError is a failure confined to one image (undecodable, non-finite
// score): the run goes on and counts it.
type ImageError struct {
	Name string
	Err  error
}

func (e *ImageError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *ImageError) Unwrap() error { return e.Err }

func joinNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}
