// Package bench holds Vigil's real-data benchmarks: realdata.sh runs every
// detector on the real inspection data sets through the CLI, and the
// VIGIL_REALDATA=1 test harness here measures how much per-image scoring
// time the feature detectors add on top of the backbone's forward pass.
package bench
