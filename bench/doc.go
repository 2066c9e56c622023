// Package bench holds Vigil's benchmarks. Engine times the engine's kernels
// (SGEMM, convolution, an exported ResNet-18 graph, a ConvAE training step)
// for `vigil bench engine`, whose JSON lines bench/engine.sh compares with
// ONNX Runtime and oneDNN. realdata.sh runs every detector on the real
// inspection data sets through the CLI, and the VIGIL_REALDATA=1 test
// harness here measures how much per-image scoring time the feature
// detectors add on top of the backbone's forward pass.
package bench
