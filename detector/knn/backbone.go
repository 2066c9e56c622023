package knn

// Check reports whether the configured backbone can be found, without
// loading it (detector.Checker), so that a missing backbone is refused
// before any data is read.
func (d *Detector) Check() error {
	if d.Ready() {
		return nil
	}
	return d.cfg.Source.Check()
}

// SetBackboneDir makes a loaded model look for its backbone in dir first
// (detector.BackboneDirSetter: vigil test/predict --backbone-dir).
func (d *Detector) SetBackboneDir(dir string) { d.cfg.BackboneDir = dir }
