package server

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ReportInfo is an HTML report found under the reports folder
// (GET /v1/reports); URL opens it.
type ReportInfo struct {
	Path     string         `json:"path"` // folder relative to the reports folder, with slashes
	Title    string         `json:"title"`
	URL      string         `json:"url"`
	Modified time.Time      `json:"modified"`
	Metrics  map[string]any `json:"metrics"`
}

// reportDepth bounds the search for reports under the reports folder.
const reportDepth = 3

func (s *Server) listReports(w http.ResponseWriter, r *http.Request) {
	root, err := os.OpenRoot(s.cfg.ReportsDir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the reports folder cannot be read")
		return
	}
	defer root.Close()
	fsys := root.FS()
	out := []ReportInfo{}
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || strings.Count(p, "/") >= reportDepth) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Name() != "index.html" {
			return nil
		}
		dir := path.Dir(p)
		info := ReportInfo{Path: dir, Title: dir, URL: "/reports/" + strings.TrimPrefix(dir+"/", "./")}
		if st, err := d.Info(); err == nil {
			info.Modified = st.ModTime().UTC()
		}
		// reports from 'vigil test --report' have metrics.json beside the page
		if b, err := fs.ReadFile(fsys, path.Join(dir, "metrics.json")); err == nil {
			var sum struct {
				Title   string         `json:"title"`
				Metrics map[string]any `json:"metrics"`
			}
			if json.Unmarshal(b, &sum) == nil {
				if sum.Title != "" {
					info.Title = sum.Title
				}
				info.Metrics = sum.Metrics
			}
		}
		out = append(out, info)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	writeJSON(w, http.StatusOK, map[string]any{"reports": out})
}

// reportFiles serves the files of the reports folder under /reports/.
// os.Root keeps every access inside the folder (no "..", no symbolic
// link out of it); folders are not listed.
func (s *Server) reportFiles(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimPrefix(r.URL.Path, "/reports/")
	if rel == "" || strings.HasSuffix(rel, "/") {
		rel += "index.html"
	}
	rel = path.Clean(rel)
	if !fs.ValidPath(rel) {
		writeError(w, http.StatusNotFound, "not_found", "no report file %s", r.URL.Path)
		return
	}
	root, err := os.OpenRoot(s.cfg.ReportsDir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the reports folder cannot be read")
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no report file %s", r.URL.Path)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		if err == nil {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusFound)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no report file %s", r.URL.Path)
		return
	}
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}
