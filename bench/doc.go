// Package bench holds Vigil's benchmarks. Engine times the engine's kernels
// (SGEMM, convolution, an exported ResNet-18 graph, a ConvAE training step)
// for `vigil bench engine`, whose JSON lines bench/engine.sh compares with
// ONNX Runtime and oneDNN. realdata.sh runs every detector on the real
// inspection data sets through the CLI, and the VIGIL_REALDATA=1 test
// harness here measures how much per-image scoring time the feature
// detectors add on top of the backbone's forward pass.
// TestStudentsAblation (VIGIL_STUDENTS_ABLATION=MODEL,DATADIR) scores a
// students model's test set once and reports every receptive-field and
// e/v ablation; fmnist.sh and osr.sh run the Fashion-MNIST one-class and
// open-set benchmarks, export.sh checks exported ONNX files against ONNX
// Runtime.
package bench
