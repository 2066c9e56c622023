package students

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// tiny is a configuration small enough for unit tests.
const tiny = `"size":64,"students":3,"dim":8,"width":0.06,"teacher_steps":40,"teacher_batch":8,"teacher_pool":256,` +
	`"student_steps":80,"student_batch":2,"student_crop":16,"teacher_lr":0.003,"student_lr":0.003,"sigma":1,"val_fraction":0.2,"seed":4`

// TestContractTriplet: self-supervised teacher at p=17; the map peaks in
// the planted defect, save/load and a refit give identical scores.
func TestContractTriplet(t *testing.T) {
	detectortest.Run(t, "students", `{"teacher":"triplet","patch_sizes":[17],`+tiny+`}`, detectortest.Options{NTrain: 24})
}

// TestContractDistillMultiscale: distilled teacher (a fixed random CNN
// as the backbone) at two receptive fields, maps averaged.
func TestContractDistillMultiscale(t *testing.T) {
	if testing.Short() {
		t.Skip("two receptive fields: skipped in -short")
	}
	detectortest.Run(t, "students", `{"teacher":"distill","backbone":"random:1","distill_size":32,"patch_sizes":[17,33],`+
		strings.NewReplacer(`"teacher_steps":40`, `"teacher_steps":20`, `"student_steps":80`, `"student_steps":50`, `"teacher_pool":256`, `"teacher_pool":64`).Replace(tiny)+`}`,
		detectortest.Options{NTrain: 16})
}

// TestDenseIsCentred: with the reflect padding, the dense descriptor at
// pixel (y, x) is the teacher's output on the p×p patch centred there.
func TestDenseIsCentred(t *testing.T) {
	net, err := arch.NewPatchNet(33, 4, 0.05, 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := nn.NewRNG(5)
	x := tensor.New(1, 3, 20, 24)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	out := dense(net, padFor(net, x), 20, 24)
	for _, yx := range [][2]int{{0, 0}, {10, 12}, {19, 23}, {3, 20}} {
		y, xx := yx[0], yx[1]
		patch := tensor.New(1, 3, 33, 33)
		crop(x, 0, y-16, xx-16, 33, 33, patch.Data)
		var d *tensor.Tensor
		nn.NoGrad(func() { d = net.Forward(nn.NewVar(patch)).Value })
		for c := 0; c < 4; c++ {
			a, b := out.Data[(c*20+y)*24+xx], d.Data[c]
			if math.Abs(float64(a-b)) > 1e-4*(1+math.Abs(float64(b))) {
				t.Fatalf("(%d,%d) channel %d: dense %g, patch %g", y, xx, c, a, b)
			}
		}
	}
	// Reflection about the edge, without repeating it.
	for i, want := range map[int]int{-1: 1, -3: 3, 0: 0, 4: 4, 5: 3, 7: 1, 8: 0, 9: 1, -9: 1} {
		if got := imageio.Reflect(i, 5); got != want {
			t.Errorf("imageio.Reflect(%d, 5) = %d, want %d", i, got, want)
		}
	}
}

// TestCompactness compares the loss with a float64 brute force and its
// gradient with central differences.
func TestCompactness(t *testing.T) {
	rng := nn.NewRNG(9)
	const b, k = 7, 4
	x := tensor.New(b, k)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	x.Data[1] = x.Data[0]*0.8 + x.Data[1]*0.2 // some correlation
	brute := func(x []float32) float64 {
		mean, sd := make([]float64, k), make([]float64, k)
		for j := 0; j < k; j++ {
			for i := 0; i < b; i++ {
				mean[j] += float64(x[i*k+j]) / b
			}
			for i := 0; i < b; i++ {
				d := float64(x[i*k+j]) - mean[j]
				sd[j] += d * d / b
			}
			sd[j] = math.Sqrt(sd[j] + 1e-6)
		}
		var s float64
		for p := 0; p < k; p++ {
			for q := p + 1; q < k; q++ {
				var c float64
				for i := 0; i < b; i++ {
					c += (float64(x[i*k+p]) - mean[p]) / sd[p] * (float64(x[i*k+q]) - mean[q]) / sd[q] / b
				}
				s += c * c
			}
		}
		return s / (k * (k - 1) / 2)
	}
	v := nn.NewParamVar(x)
	loss := compactness(v)
	if got, want := float64(loss.Item()), brute(x.Data); math.Abs(got-want) > 1e-4 {
		t.Fatalf("compactness %g, brute force %g", got, want)
	}
	nn.Backward(loss)
	for i := range x.Data {
		orig := x.Data[i]
		const h = 1e-3
		x.Data[i] = orig + h
		up := brute(x.Data)
		x.Data[i] = orig - h
		down := brute(x.Data)
		x.Data[i] = orig
		num := (up - down) / (2 * h)
		if g := float64(v.Grad.Data[i]); math.Abs(g-num) > 2e-3+2e-2*math.Abs(num) {
			t.Errorf("d/dx[%d]: analytic %g, numeric %g", i, g, num)
		}
	}
}

// TestConfigErrors names the bad key.
func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"patch_sizes":[21]}`:                "patch_sizes",
		`{"patch_sizes":[17,17]}`:             "given twice",
		`{"students":1}`:                      "students",
		`{"teacher":"imagenet"}`:              "teacher",
		`{"score":"max"}`:                     "score",
		`{"val_fraction":0}`:                  "val_fraction",
		`{"distill_size":50}`:                 "distill_size",
		`{"studnets":3}`:                      "studnets",
		`{"teacher":"distill","backbone":""}`: "backbone",
	} {
		_, err := New(json.RawMessage(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %q", cfg, err, want)
		}
	}
}

// TestResumeAndProgress: a fit with checkpoints reports each chunk of
// every stage, and a resumed fit whose checkpoints are complete gives
// the same model without retraining.
func TestResumeAndProgress(t *testing.T) {
	cfg := json.RawMessage(`{"teacher":"triplet","patch_sizes":[17],` + strings.Replace(tiny, `"size":64`, `"size":32`, 1) + `}`)
	var imgs []*imageio.Image
	for i := 0; i < 6; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	dir := t.TempDir()
	fit := func(resume bool) (*Detector, map[string]int) {
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		d.SetTrainSession(train.Session{CheckpointDir: dir, Resume: resume, Progress: func(e train.Epoch) { seen[e.Stage]++ }})
		if err := d.Fit(context.Background(), imgs); err != nil {
			t.Fatal(err)
		}
		return d, seen
	}
	start := time.Now()
	a, seen := fit(false)
	if seen["teacher-p17"] != 10 || seen["students-p17"] != 10 {
		t.Fatalf("progress per stage %v, want 10 chunks each", seen)
	}
	b, seen := fit(true)
	if len(seen) != 0 {
		t.Fatalf("resumed fit retrained: %v", seen)
	}
	ra, err := a.Score(context.Background(), imgs[:2])
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Score(context.Background(), imgs[:2])
	if err != nil {
		t.Fatal(err)
	}
	for i := range ra {
		if ra[i].Score != rb[i].Score {
			t.Fatalf("image %d: %v after resume, %v before", i, rb[i].Score, ra[i].Score)
		}
	}
	_ = start
	var _ detector.Trainer = a
}

// TestInterruptedResume: a fit interrupted in the teacher stage or in
// the students stage and resumed from its checkpoints gives the model of
// an uninterrupted fit, bit for bit; a resume under another student_lr
// is refused, naming it.
func TestInterruptedResume(t *testing.T) {
	cfg := `{"teacher":"triplet","patch_sizes":[17],` + strings.NewReplacer(`"size":64`, `"size":32`,
		`"teacher_steps":40`, `"teacher_steps":10`, `"student_steps":80`, `"student_steps":10`).Replace(tiny) + `}`
	var imgs []*imageio.Image
	for i := 0; i < 6; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	fit := func(cfg string, sess train.Session, ctx context.Context) (*Detector, error) {
		d, err := New(json.RawMessage(cfg))
		if err != nil {
			t.Fatal(err)
		}
		d.SetTrainSession(sess)
		return d, d.Fit(ctx, imgs)
	}
	scores := func(d *Detector) []float64 {
		rs, err := d.Score(context.Background(), imgs[:3])
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, r := range rs {
			out = append(out, r.Score)
		}
		return out
	}
	straight, err := fit(cfg, train.Session{}, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := scores(straight)
	for _, stop := range []string{"teacher-p17", "students-p17"} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		_, err := fit(cfg, train.Session{CheckpointDir: dir, Progress: func(e train.Epoch) {
			if e.Stage == stop && e.Epoch == 4 {
				cancel()
			}
		}}, ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted in %s: %v", stop, err)
		}
		other := strings.Replace(cfg, `"student_lr":0.003`, `"student_lr":0.002`, 1)
		if stop == "students-p17" {
			_, err := fit(other, train.Session{CheckpointDir: dir, Resume: true}, context.Background())
			if err == nil || !strings.Contains(err.Error(), "train.lr = 0.003, this run has 0.002") || !strings.Contains(err.Error(), "train.lr is student_lr") {
				t.Fatalf("resume under another student_lr: %v", err)
			}
		}
		var trained []string
		resumed, err := fit(cfg, train.Session{CheckpointDir: dir, Resume: true, Progress: func(e train.Epoch) {
			trained = append(trained, fmt.Sprintf("%s/%d", e.Stage, e.Epoch))
		}}, context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if first := fmt.Sprintf("%s/5", stop); len(trained) == 0 || trained[0] != first {
			t.Fatalf("interrupted in %s: resumed epochs %v, want from %s", stop, trained, first)
		}
		if got := scores(resumed); !slices.Equal(got, want) {
			t.Fatalf("interrupted in %s: resumed scores %v, uninterrupted %v", stop, got, want)
		}
	}
}

// fitted fits cfg on n 32×32 textures and returns the detector, the
// images and its tensors by name.
func fitted(t *testing.T, cfg string, n int) (*Detector, []*imageio.Image, map[string]safetensors.Tensor) {
	t.Helper()
	d, err := New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var imgs []*imageio.Image
	for i := 0; i < n; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	if err := d.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	ts := map[string]safetensors.Tensor{}
	for _, x := range d.Tensors() {
		ts[x.Name] = x
	}
	return d, imgs, ts
}

// TestRestoreConfigFromBefore: a model whose config JSON was written
// before the students trained through train.FitSteps (this literal, with
// every key the config then had) still restores and scores as the fitted
// model; the config keys are unchanged.
func TestRestoreConfigFromBefore(t *testing.T) {
	const old = `{"backbone":"mobilenet_v2","size":32,"crop":0,"aspect":"stretch","patch_sizes":[17],"students":3,"dim":8,"width":0.06,` +
		`"teacher":"triplet","teacher_steps":40,"teacher_batch":8,"teacher_pool":256,"teacher_lr":0.003,"distill_size":64,"margin":1,` +
		`"compact":1,"shift":2,"student_steps":80,"student_batch":2,"student_crop":16,"student_lr":0.003,"val_fraction":0.2,"score":"ev",` +
		`"sigma":1,"seed":4,"batch":4}`
	d, imgs, ts := fitted(t, strings.NewReplacer(`"teacher_steps":40`, `"teacher_steps":2`, `"student_steps":80`, `"student_steps":2`).Replace(old), 4)
	r := new(Detector)
	if err := r.Restore(json.RawMessage(old), ts); err != nil {
		t.Fatalf("restoring a config from before: %v", err)
	}
	a, err := d.Score(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Score(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].Score != b[i].Score {
			t.Fatalf("image %d: restored %v, fitted %v", i, b[i].Score, a[i].Score)
		}
	}
	keys := func(raw []byte) []string {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(m))
	}
	now, err := json.Marshal(r.Config())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(now), keys([]byte(old)); !slices.Equal(got, want) {
		t.Fatalf("config keys now %v, before %v", got, want)
	}
}

// TestTeacherFile: teachers saved by one fit and loaded by another give
// the same model as training them again (same seed); a file of another
// descriptor size is refused by name.
func TestTeacherFile(t *testing.T) {
	small := strings.Replace(tiny, `"size":64`, `"size":32`, 1)
	var imgs []*imageio.Image
	for i := 0; i < 6; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	path := t.TempDir() + "/teacher.safetensors"
	fit := func(extra string) (*Detector, error) {
		d, err := New(json.RawMessage(`{"teacher":"triplet","patch_sizes":[17],` + small + extra + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return d, d.Fit(context.Background(), imgs)
	}
	a, err := fit(`,"teacher_save":"` + path + `"`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fit(`,"teacher_load":"` + path + `"`)
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := a.Score(context.Background(), imgs[:3])
	rb, _ := b.Score(context.Background(), imgs[:3])
	for i := range ra {
		if ra[i].Score != rb[i].Score {
			t.Fatalf("image %d: %v with the loaded teacher, %v with the trained one", i, rb[i].Score, ra[i].Score)
		}
	}
	small = strings.Replace(small, `"width":0.06`, `"width":0.1`, 1)
	if _, err := fit(`,"teacher_load":"` + path + `"`); err == nil || !strings.Contains(err.Error(), "teacher_load") {
		t.Fatalf("teacher of another dim: error %v", err)
	}
}

// TestRestoreRefusesBadTensors: a missing student, a NaN weight or a
// non-positive deviation is refused with the tensor's name.
func TestRestoreRefusesBadTensors(t *testing.T) {
	cfg := `{"teacher":"triplet","patch_sizes":[17],` + strings.NewReplacer(`"size":64`, `"size":32`, `"teacher_steps":40`, `"teacher_steps":2`, `"student_steps":80`, `"student_steps":2`).Replace(tiny) + `}`
	_, _, good := fitted(t, cfg, 4)
	if err := new(Detector).Restore(json.RawMessage(cfg), good); err != nil {
		t.Fatalf("restore of a good model: %v", err)
	}
	edit := func(name string, f func([]float32)) map[string]safetensors.Tensor {
		m := map[string]safetensors.Tensor{}
		for k, v := range good {
			m[k] = v
		}
		v, _ := good[name].Float32s()
		f(v)
		m[name] = safetensors.F32(name, good[name].Shape, v)
		return m
	}
	missing := map[string]safetensors.Tensor{}
	for k, v := range good {
		if k != "p17.student2.conv1.bias" {
			missing[k] = v
		}
	}
	for name, ts := range map[string]map[string]safetensors.Tensor{
		"p17.student2.conv1.bias":  missing,
		"p17.teacher.conv0.weight": edit("p17.teacher.conv0.weight", func(v []float32) { v[3] = float32(math.NaN()) }),
		"p17.t_std":                edit("p17.t_std", func(v []float32) { v[1] = 0 }),
		"p17.score_stats":          edit("p17.score_stats", func(v []float32) { v[3] = -1 }),
	} {
		err := new(Detector).Restore(json.RawMessage(cfg), ts)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming it", name, err)
		}
	}
}

// TestScoreVariants: one pass gives every ablation exactly as Score of
// the matching model gives it. "multi/s" equals Score of the two-scale
// model restored with score s, "p33/s" equals Score of a model restored
// from the p = 33 tensors alone, bit for bit (scores and every map
// pixel); and since smoothing and resizing are linear, the maps obey
// ev = e + v and multi = mean over p.
func TestScoreVariants(t *testing.T) {
	cfg := `{"teacher":"triplet","patch_sizes":[17,33],"batch":2,` + strings.NewReplacer(`"size":64`, `"size":32`,
		`"teacher_steps":40`, `"teacher_steps":10`, `"student_steps":80`, `"student_steps":10`).Replace(tiny) + `}`
	d, err := New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var train []*imageio.Image
	for i := 0; i < 6; i++ {
		train = append(train, detectortest.Texture(uint64(i), 32, 32))
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	// Three images (two batches), not square and not 32 px: the maps
	// are resized back.
	imgs := []*imageio.Image{detectortest.Texture(11, 40, 36), detectortest.Texture(12, 40, 36), detectortest.Texture(13, 40, 36)}
	imgs[1], _ = detectortest.Plant(imgs[1], 10, 12, 8)
	vs, rs, err := d.ScoreVariants(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string][]detector.Result{}
	for i, v := range vs {
		names = append(names, v.String())
		byName[v.String()] = rs[i]
	}
	want := "p17/ev p17/e p17/v p33/ev p33/e p33/v multi/ev multi/e multi/v"
	if got := strings.Join(names, " "); got != want || len(rs) != len(vs) {
		t.Fatalf("variants %q (%d results), want %q", got, len(rs), want)
	}
	tensors := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		tensors[ts.Name] = ts
	}
	// restored is Score of the fitted model with patch sizes ps and score s,
	// holding only the tensors of ps.
	restored := func(ps []int, s string) []detector.Result {
		c := d.cfg
		c.PatchSizes, c.Score = ps, s
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		sub := map[string]safetensors.Tensor{}
		for name, ts := range tensors {
			for _, p := range ps {
				if strings.HasPrefix(name, fmt.Sprintf("p%d.", p)) {
					sub[name] = ts
				}
			}
		}
		r := new(Detector)
		if err := r.Restore(raw, sub); err != nil {
			t.Fatal(err)
		}
		out, err := r.Score(context.Background(), imgs)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	same := func(name string, got, want []detector.Result) {
		t.Helper()
		for j := range want {
			if got[j].Score != want[j].Score {
				t.Fatalf("%s image %d: score %v, Score gives %v", name, j, got[j].Score, want[j].Score)
			}
			for k, v := range want[j].Map.Pix {
				if math.Float32bits(got[j].Map.Pix[k]) != math.Float32bits(v) {
					t.Fatalf("%s image %d pixel %d: %v, Score gives %v", name, j, k, got[j].Map.Pix[k], v)
				}
			}
		}
	}
	plain, err := d.Score(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	same("multi/ev", byName["multi/ev"], plain)
	for _, s := range []string{"ev", "e", "v"} {
		same("multi/"+s, byName["multi/"+s], restored([]int{17, 33}, s))
		same("p33/"+s, byName["p33/"+s], restored([]int{33}, s))
	}
	same("p17/ev", byName["p17/ev"], restored([]int{17}, "ev"))
	// The variants differ (else the equalities above prove little).
	if byName["p17/e"][1].Score == byName["p33/e"][1].Score || byName["p17/e"][1].Score == byName["p17/v"][1].Score {
		t.Fatalf("variants coincide: p17/e %v, p33/e %v, p17/v %v", byName["p17/e"][1].Score, byName["p33/e"][1].Score, byName["p17/v"][1].Score)
	}
	near := func(what string, a, b float32) {
		t.Helper()
		if math.Abs(float64(a-b)) > 1e-4*(1+math.Abs(float64(b))) {
			t.Fatalf("%s: %v, want %v", what, a, b)
		}
	}
	for j := range imgs {
		for k := range imgs[j].H * imgs[j].W {
			px := func(name string) float32 { return byName[name][j].Map.Pix[k] }
			for _, p := range []string{"p17", "p33", "multi"} {
				near(fmt.Sprintf("image %d pixel %d %s: ev vs e + v", j, k, p), px(p+"/ev"), px(p+"/e")+px(p+"/v"))
			}
			for _, s := range []string{"ev", "e", "v"} {
				near(fmt.Sprintf("image %d pixel %d multi/%s vs mean of p17, p33", j, k, s), px("multi/"+s), (px("p17/"+s)+px("p33/"+s))/2)
			}
		}
	}
	if _, err := d.scoreVariants(context.Background(), imgs, []Variant{{P: 65, Score: "ev"}}); err == nil || !strings.Contains(err.Error(), "p65/ev") {
		t.Fatalf("variant of an unfitted receptive field: error %v", err)
	}
}
