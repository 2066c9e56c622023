// Package students implements Uninformed Students (Bergmann et al., CVPR
// 2020). Per receptive field p, a teacher patch network T (arch.PatchNet)
// is pre-trained, either by distilling a pretrained backbone's patch
// features through a linear decoder with the paper's triplet and
// compactness losses, or self-supervised with the triplet loss alone; then
// M students with T's architecture regress T's descriptors, standardised
// by their mean and deviation over the training images, at every location
// (MSE). A location's regression error e (squared distance of the
// students' mean to the teacher) and predictive variance v (the students'
// variance, summed over the descriptor) are standardised by their mean and
// deviation over held-out normal images; the map is ẽ + ṽ, averaged over
// the receptive fields, and the image score its maximum after smoothing.
// Every network runs densely (arch.PatchNet.Dense): one pass per image
// gives the descriptor of the patch centred on every pixel.
package students

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Config holds the hyper-parameters; the help tags are what `vigil
// methods` prints.
type Config struct {
	embedding.Source
	embedding.Geometry
	PatchSizes   []int   `json:"patch_sizes" help:"receptive fields p (17, 33, 65), each with its own teacher and students; their maps are averaged"`
	Students     int     `json:"students" help:"number of students M"`
	Dim          int     `json:"dim" help:"descriptor size d"`
	Width        float64 `json:"width" help:"channel width factor of the patch networks (1: the paper's 128/256 channels)"`
	Teacher      string  `json:"teacher" enum:"distill,triplet" help:"teacher pre-training: distill (regress the backbone's patch features through a linear decoder, plus triplet and compactness losses) or triplet (self-supervised: triplet loss alone)"`
	TeacherData  string  `json:"teacher_data,omitempty" help:"folder of extra unlabelled images (walked recursively) the teacher trains on besides the training images; never test images"`
	TeacherLoad  string  `json:"teacher_load,omitempty" help:"teacher file (written with teacher_save) to use instead of pre-training one; it must hold every patch size with this dim and width"`
	TeacherSave  string  `json:"teacher_save,omitempty" help:"write the pre-trained teachers to this file, reusable with teacher_load"`
	TeacherSteps int     `json:"teacher_steps" help:"teacher optimiser steps per receptive field, in 10 epochs of the training pipeline (rounded up to a multiple of 10)"`
	TeacherBatch int     `json:"teacher_batch" help:"patch triplets per teacher step"`
	TeacherPool  int     `json:"teacher_pool" help:"patches drawn once for teacher training (their backbone features computed once)"`
	TeacherLR    float64 `json:"teacher_lr" help:"teacher learning rate (Adam)"`
	DistillSize  int     `json:"distill_size" help:"distill: side the patches are resized to for the backbone (a multiple of 32)"`
	Margin       float64 `json:"margin" help:"triplet loss margin"`
	Compact      float64 `json:"compact" help:"distill: weight of the compactness loss (squared correlations between descriptor dimensions)"`
	Shift        int     `json:"shift" help:"triplet positives: largest translation in pixels (with luminance change and noise)"`
	StudentSteps int     `json:"student_steps" help:"student optimiser steps per receptive field (the M students train together on the same crops), in 10 epochs of the training pipeline (rounded up to a multiple of 10)"`
	StudentBatch int     `json:"student_batch" help:"crops per student step"`
	StudentCrop  int     `json:"student_crop" help:"side of the descriptor grid each student training crop yields"`
	StudentLR    float64 `json:"student_lr" help:"student learning rate (Adam)"`
	ValFraction  float64 `json:"val_fraction" help:"share of the training images held out (not trained on) to standardise e and v, at most 32 images"`
	Score        string  `json:"score" enum:"ev,e,v" help:"map: ev (standardised error plus variance), e (error only) or v (variance only)"`
	Sigma        float64 `json:"sigma" help:"map smoothing (Gaussian sigma, input pixels) before the image score (the maximum); 0: none"`
	Seed         uint64  `json:"seed" help:"seed of initialisation, patch sampling and the held-out split: same seed, same model"`
	Batch        int     `json:"batch,omitempty" help:"images per scoring batch"`
}

// DefaultConfig returns the defaults, sized so the three receptive fields
// train on a few hundred images in under an hour on two cores (BENCHMARKS.md).
func DefaultConfig() Config {
	return Config{
		Source:     embedding.Source{Backbone: "mobilenet_v2"},
		Geometry:   embedding.Geometry{Size: 128, Aspect: embedding.AspectStretch},
		PatchSizes: []int{17, 33, 65}, Students: 5, Dim: 64, Width: 0.25,
		Teacher: "distill", TeacherSteps: 400, TeacherBatch: 32, TeacherPool: 2048, TeacherLR: 1e-3,
		DistillSize: 64, Margin: 1, Compact: 1, Shift: 2,
		StudentSteps: 300, StudentBatch: 4, StudentCrop: 32, StudentLR: 1e-3,
		ValFraction: 0.1, Score: "ev", Sigma: 2, Seed: 0, Batch: 4,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("students config: "+format, a...) }
	if err := c.Geometry.Validate(); err != nil {
		return bad("%v", err)
	}
	if len(c.PatchSizes) == 0 {
		return bad("patch_sizes is empty")
	}
	seen := map[int]bool{}
	for _, p := range c.PatchSizes {
		if !slices.Contains(arch.PatchSizes, p) {
			return bad("patch_sizes: %d is not one of %v", p, arch.PatchSizes)
		}
		if seen[p] {
			return bad("patch_sizes: %d given twice", p)
		}
		seen[p] = true
	}
	switch {
	case c.Students < 2:
		return bad("students %d must be >= 2 (the variance needs two)", c.Students)
	case c.Dim < 2:
		return bad("dim %d must be >= 2", c.Dim)
	case !(c.Width > 0 && c.Width <= 4):
		return bad("width %g must be in (0, 4]", c.Width)
	case c.Teacher != "distill" && c.Teacher != "triplet":
		return bad("teacher %q must be distill or triplet", c.Teacher)
	case c.Teacher == "distill" && c.Backbone == "":
		return bad("teacher distill needs a backbone")
	case c.TeacherSteps < 1 || c.TeacherBatch < 2 || c.TeacherPool < 2:
		return bad("teacher_steps, teacher_batch and teacher_pool must be >= 1, 2, 2")
	case !(c.TeacherLR > 0) || !(c.StudentLR > 0):
		return bad("teacher_lr and student_lr must be > 0")
	case c.DistillSize < 32 || c.DistillSize%32 != 0:
		return bad("distill_size %d must be a positive multiple of 32", c.DistillSize)
	case !(c.Margin >= 0) || !(c.Compact >= 0):
		return bad("margin and compact must be >= 0")
	case c.Shift < 0:
		return bad("shift %d must be >= 0", c.Shift)
	case c.StudentSteps < 1 || c.StudentBatch < 1 || c.StudentCrop < 1:
		return bad("student_steps, student_batch and student_crop must be >= 1")
	case !(c.ValFraction > 0 && c.ValFraction < 1):
		return bad("val_fraction %g must be in (0,1)", c.ValFraction)
	case c.Score != "ev" && c.Score != "e" && c.Score != "v":
		return bad("score %q must be ev, e or v", c.Score)
	case !(c.Sigma >= 0):
		return bad("sigma %g must be >= 0", c.Sigma)
	case c.Batch < 1:
		return bad("batch %d must be >= 1", c.Batch)
	}
	return nil
}

// scale is the fitted model of one receptive field.
type scale struct {
	p        int
	teacher  *arch.PatchNet
	students []*arch.PatchNet
	tMean    []float32 // per descriptor channel, over the training images
	tStd     []float32
	stats    [4]float32 // mean and deviation of e, then of v, on held-out normals
}

// Detector is a fitted (or unfitted) Uninformed Students model.
type Detector struct {
	cfg Config
	embedding.Lazy
	sess   train.Session
	scales []*scale
}

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     "students",
		Summary:  "Uninformed Students: M students regress a patch teacher's descriptors; map = standardised regression error + predictive variance, over receptive fields",
		New:      func(raw json.RawMessage) (detector.Detector, error) { return New(raw) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// New makes an unfitted detector from a JSON configuration.
func New(raw json.RawMessage) (*Detector, error) {
	c := DefaultConfig()
	if err := detector.DecodeConfig("students", raw, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: c}, nil
}

// Method is "students".
func (d *Detector) Method() string { return "students" }

// Config returns the configuration.
func (d *Detector) Config() any { return d.cfg }

// Preprocessing describes the input geometry.
func (d *Detector) Preprocessing() any { return d.cfg.Geometry }

// InputSize is the size every image is resized to first.
func (d *Detector) InputSize() (h, w int) { return d.cfg.Geometry.InputSize() }

// SetTrainSession says where checkpoints and progress go (detector.Trainer).
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// Check reports whether the backbone a distilled teacher needs can be found
// (detector.Checker); a fitted model needs none.
func (d *Detector) Check() error {
	if d.cfg.Teacher != "distill" || d.scales != nil || d.Ready() {
		return nil
	}
	return d.cfg.Source.Check()
}

// SetBackboneDir sets the folder searched first for the backbone.
func (d *Detector) SetBackboneDir(dir string) { d.cfg.BackboneDir = dir }

// inputs converts images to normalised network inputs [N,3,S,S].
func (d *Detector) inputs(imgs []*imageio.Image) (*tensor.Tensor, error) {
	x, err := d.cfg.Geometry.Batch(imgs)
	if err != nil {
		return nil, err
	}
	for i, v := range x.Data {
		x.Data[i] = (v - 0.5) * 4 // about zero mean, unit deviation for [0,1] images
	}
	return x, nil
}

// Fit trains teacher and students for every receptive field on the
// training images, keeping a seeded share of them out to standardise the
// scores.
func (d *Detector) Fit(ctx context.Context, imgs []*imageio.Image) error {
	if len(imgs) < 3 {
		return fmt.Errorf("students: need at least 3 training images, got %d", len(imgs))
	}
	if d.cfg.Teacher == "distill" {
		d.cfg.Source = d.cfg.Source.Resolved()
	}
	nVal := min(32, max(1, int(math.Round(d.cfg.ValFraction*float64(len(imgs))))))
	perm := rand.New(rand.NewPCG(d.cfg.Seed, 0x57a1)).Perm(len(imgs))
	valIdx, trIdx := perm[:nVal], perm[nVal:]
	sort.Ints(valIdx)
	sort.Ints(trIdx)
	pick := func(idx []int) []*imageio.Image {
		out := make([]*imageio.Image, len(idx))
		for i, j := range idx {
			out[i] = imgs[j]
		}
		return out
	}
	trX, err := d.inputs(pick(trIdx))
	if err != nil {
		return fmt.Errorf("students: training %w", err)
	}
	valX, err := d.inputs(pick(valIdx))
	if err != nil {
		return fmt.Errorf("students: validation %w", err)
	}
	var extra *tensor.Tensor
	if d.cfg.TeacherData != "" {
		if extra, err = d.teacherData(); err != nil {
			return err
		}
	}
	d.scales = nil
	stages := 2 * len(d.cfg.PatchSizes)
	for i, p := range d.cfg.PatchSizes {
		sc, err := d.fitScale(ctx, p, trX, valX, extra, func(done int) {
			progress.Report(ctx, 2*i+done, stages)
		})
		if err != nil {
			d.scales = nil
			return err
		}
		d.scales = append(d.scales, sc)
	}
	if d.cfg.TeacherSave != "" && d.cfg.TeacherLoad == "" {
		return d.saveTeachers(d.cfg.TeacherSave, len(trIdx), extra)
	}
	return nil
}

// teacherData loads every image under the teacher_data folder.
func (d *Detector) teacherData() (*tensor.Tensor, error) {
	var imgs []*imageio.Image
	err := filepath.WalkDir(d.cfg.TeacherData, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !dataset.IsImageFile(e.Name()) {
			return nil
		}
		img, err := imageio.Load(path)
		if err != nil {
			return fmt.Errorf("teacher_data: %w", err)
		}
		imgs = append(imgs, img)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("students: teacher_data %s: %w", d.cfg.TeacherData, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("students: teacher_data %s holds no images", d.cfg.TeacherData)
	}
	x, err := d.inputs(imgs)
	if err != nil {
		return nil, fmt.Errorf("students: teacher_data %w", err)
	}
	return x, nil
}

// fitScale trains one receptive field: teacher, descriptor statistics,
// students, score statistics.
func (d *Detector) fitScale(ctx context.Context, p int, trX, valX, extra *tensor.Tensor, done func(int)) (*scale, error) {
	c := d.cfg
	seed := c.Seed ^ uint64(p)*0x9e3779b97f4a7c15
	teacher, err := arch.NewPatchNet(p, c.Dim, c.Width, seed)
	if err != nil {
		return nil, err
	}
	sc := &scale{p: p, teacher: teacher}
	teachX := trX
	if extra != nil {
		teachX = concatBatch(trX, extra)
	}
	if c.TeacherLoad != "" {
		if err := loadTeacher(c.TeacherLoad, teacher); err != nil {
			return nil, err
		}
	} else if err := d.trainTeacher(ctx, sc, teachX, seed); err != nil {
		return nil, err
	}
	done(1)
	nn.SetRequiresGrad(teacher.Params(), false)
	sc.tMean, sc.tStd = d.descriptorStats(sc, trX)
	for m := 0; m < c.Students; m++ {
		s, err := arch.NewPatchNet(p, c.Dim, c.Width, seed+uint64(m+1)*0x51ed27)
		if err != nil {
			return nil, err
		}
		sc.students = append(sc.students, s)
	}
	if err := d.trainStudents(ctx, sc, trX, seed); err != nil {
		return nil, err
	}
	for _, s := range sc.students {
		nn.SetRequiresGrad(s.Params(), false)
	}
	// e and v over every location of the held-out normals.
	var es, vs []float64
	for lo := 0; lo < valX.Shape[0]; lo += c.Batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, v := d.errVar(sc, sliceBatch(valX, lo, min(lo+c.Batch, valX.Shape[0])))
		for i := range e {
			es = append(es, float64(e[i]))
			vs = append(vs, float64(v[i]))
		}
	}
	em, esd := meanStd(es)
	vm, vsd := meanStd(vs)
	sc.stats = [4]float32{float32(em), float32(esd), float32(vm), float32(vsd)}
	if err := checkStats(sc); err != nil {
		return nil, err
	}
	done(2)
	return sc, nil
}

func checkStats(sc *scale) error {
	for i, v := range sc.stats {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || (i%2 == 1 && !(v > 0)) {
			return fmt.Errorf("students: p=%d: score statistics %v are not finite with positive deviations (degenerate training?)", sc.p, sc.stats)
		}
	}
	return nil
}

// meanStd returns the mean and standard deviation of xs, in float64.
func meanStd(xs []float64) (float64, float64) {
	var s, q float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		q += (x - m) * (x - m)
	}
	return m, math.Sqrt(q / float64(max(1, len(xs)-1)))
}

// concatBatch stacks two [N,C,H,W] tensors of equal C, H, W.
func concatBatch(a, b *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(a.Shape[0]+b.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3])
	copy(out.Data, a.Data)
	copy(out.Data[len(a.Data):], b.Data)
	return out
}

// sliceBatch returns images lo..hi-1 of x, sharing memory.
func sliceBatch(x *tensor.Tensor, lo, hi int) *tensor.Tensor {
	per := x.Shape[1] * x.Shape[2] * x.Shape[3]
	return tensor.From(x.Data[lo*per:hi*per], hi-lo, x.Shape[1], x.Shape[2], x.Shape[3])
}

// padFor pads x [N,C,H,W] by reflection so that net.Dense gives at least
// H×W descriptors, the one at (y, x) being that of the patch centred on
// pixel (y, x).
func padFor(net *arch.PatchNet, x *tensor.Tensor) *tensor.Tensor {
	n, c, h, w := x.Dims4("students.padFor")
	top := (net.P - 1) / 2
	sh, sw := net.DenseSize(h), net.DenseSize(w)
	out := tensor.New(n, c, sh, sw)
	tensor.ParallelChunks(n*c, 1, func(lo, hi int) {
		cols := make([]int, sw)
		for j := range cols {
			cols[j] = imageio.Reflect(j-top, w)
		}
		for pl := lo; pl < hi; pl++ {
			src := x.Data[pl*h*w : (pl+1)*h*w]
			dst := out.Data[pl*sh*sw : (pl+1)*sh*sw]
			for y := 0; y < sh; y++ {
				row := src[imageio.Reflect(y-top, h)*w:]
				drow := dst[y*sw : (y+1)*sw]
				for j, cj := range cols {
					drow[j] = row[cj]
				}
			}
		}
	})
	return out
}

// dense runs net densely over x (already padded) and crops the output to
// h×w descriptors.
func dense(net *arch.PatchNet, x *tensor.Tensor, h, w int) *tensor.Tensor {
	var y *tensor.Tensor
	nn.NoGrad(func() { y = net.Dense(nn.NewVar(x)).Value })
	return cropMaps(y, h, w)
}

// cropMaps returns the top-left h×w window of every map of y.
func cropMaps(y *tensor.Tensor, h, w int) *tensor.Tensor {
	n, c, yh, yw := y.Dims4("students.cropMaps")
	if yh == h && yw == w {
		return y
	}
	out := tensor.New(n, c, h, w)
	for pl := 0; pl < n*c; pl++ {
		for r := 0; r < h; r++ {
			copy(out.Data[(pl*h+r)*w:(pl*h+r+1)*w], y.Data[(pl*yh+r)*yw:])
		}
	}
	return out
}

// descriptorStats returns the mean and deviation of every teacher
// descriptor channel over the training images (at most 16, evenly chosen).
func (d *Detector) descriptorStats(sc *scale, trX *tensor.Tensor) (mean, std []float32) {
	n, _, h, w := trX.Dims4("students")
	k := sc.teacher.Dim
	sum := make([]float64, k)
	sq := make([]float64, k)
	use := min(n, 16)
	cnt := 0.0
	for j := 0; j < use; j++ {
		i := j * n / use
		t := dense(sc.teacher, padFor(sc.teacher, sliceBatch(trX, i, i+1)), h, w)
		for ch := 0; ch < k; ch++ {
			for _, v := range t.Data[ch*h*w : (ch+1)*h*w] {
				sum[ch] += float64(v)
				sq[ch] += float64(v) * float64(v)
			}
		}
		cnt += float64(h * w)
	}
	mean, std = make([]float32, k), make([]float32, k)
	for ch := range mean {
		m := sum[ch] / cnt
		mean[ch] = float32(m)
		std[ch] = float32(math.Sqrt(max(sq[ch]/cnt-m*m, 0)) + 1e-6)
	}
	return mean, std
}

// standardise maps teacher descriptors t [N,d,H,W] to (t − mean)/std in place.
func standardise(t *tensor.Tensor, mean, std []float32) {
	n, k, h, w := t.Dims4("students.standardise")
	for i := 0; i < n; i++ {
		for ch := 0; ch < k; ch++ {
			m, s := mean[ch], 1/std[ch]
			plane := t.Data[(i*k+ch)*h*w : (i*k+ch+1)*h*w]
			for j, v := range plane {
				plane[j] = (v - m) * s
			}
		}
	}
}

// errVar returns the regression error e and the predictive variance v at
// every location of the images x [N,3,H,W] (N·H·W values each).
func (d *Detector) errVar(sc *scale, x *tensor.Tensor) (e, v []float32) {
	n, _, h, w := x.Dims4("students")
	xp := padFor(sc.teacher, x)
	t := dense(sc.teacher, xp, h, w)
	standardise(t, sc.tMean, sc.tStd)
	k, hw := sc.teacher.Dim, h*w
	M := float32(len(sc.students))
	sum := tensor.New(t.Shape...)
	sq := tensor.New(t.Shape...)
	for _, s := range sc.students {
		y := dense(s, xp, h, w)
		for i, v := range y.Data {
			sum.Data[i] += v
			sq.Data[i] += v * v
		}
	}
	e = make([]float32, n*hw)
	v = make([]float32, n*hw)
	for i := 0; i < n; i++ {
		for ch := 0; ch < k; ch++ {
			off := (i*k + ch) * hw
			for j := 0; j < hw; j++ {
				mu := sum.Data[off+j] / M
				diff := mu - t.Data[off+j]
				e[i*hw+j] += diff * diff
				v[i*hw+j] += max(sq.Data[off+j]/M-mu*mu, 0)
			}
		}
	}
	return e, v
}

// Score computes the anomaly maps and image scores: the variant
// "multi/<score>" of ScoreVariants.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	rs, err := d.scoreVariants(ctx, images, []Variant{{Score: d.cfg.Score}})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// Variant is one way of turning the networks' outputs into a map: one
// receptive field P alone, or (P 0) the average over every fitted one;
// Score is ev, e or v as in Config.Score.
type Variant struct {
	P     int
	Score string
}

// String is "p17/ev", or "multi/ev" for the average.
func (v Variant) String() string {
	if v.P == 0 {
		return "multi/" + v.Score
	}
	return fmt.Sprintf("p%d/%s", v.P, v.Score)
}

// Variants lists what ScoreVariants returns, in its order: every fitted
// receptive field, then the average over them, each with ev, e and v.
func (d *Detector) Variants() []Variant {
	var vs []Variant
	for _, p := range append(d.fitted(), 0) {
		for _, s := range []string{"ev", "e", "v"} {
			vs = append(vs, Variant{P: p, Score: s})
		}
	}
	return vs
}

func (d *Detector) fitted() []int {
	ps := make([]int, len(d.scales))
	for i, sc := range d.scales {
		ps[i] = sc.p
	}
	return ps
}

// ScoreVariants scores the images under every variant (ablations of the
// receptive fields and of the score) at the cost of one Score: teacher
// and students run once per batch. results[i][j] is variant vs[i] on
// image j, computed exactly as Score computes it, so "multi/<score>" is
// bit for bit what Score returns and "p17/ev" what Score of a model
// holding only p = 17 returns.
func (d *Detector) ScoreVariants(ctx context.Context, images []*imageio.Image) (vs []Variant, results [][]detector.Result, err error) {
	vs = d.Variants()
	results, err = d.scoreVariants(ctx, images, vs)
	return vs, results, err
}

func (d *Detector) scoreVariants(ctx context.Context, images []*imageio.Image, vs []Variant) ([][]detector.Result, error) {
	if len(d.scales) == 0 {
		return nil, fmt.Errorf("students: not fitted")
	}
	members := make([][]int, len(vs)) // indices into d.scales
	for i, v := range vs {
		for k, sc := range d.scales {
			if v.P == 0 || v.P == sc.p {
				members[i] = append(members[i], k)
			}
		}
		if len(members[i]) == 0 {
			return nil, fmt.Errorf("students: variant %s: receptive field %d is not fitted (fitted: %v)", v, v.P, d.fitted())
		}
	}
	out := make([][]detector.Result, len(vs))
	for i := range out {
		out[i] = make([]detector.Result, len(images))
	}
	es, evs := make([][]float32, len(d.scales)), make([][]float32, len(d.scales))
	for lo := 0; lo < len(images); lo += d.cfg.Batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+d.cfg.Batch, len(images))
		x, err := d.inputs(images[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("students: %w", err)
		}
		n, _, h, w := x.Dims4("students")
		hw := h * w
		for k, sc := range d.scales {
			es[k], evs[k] = d.errVar(sc, x)
		}
		for vi, v := range vs {
			grid := make([]float32, n*hw)
			for _, k := range members[vi] {
				sc, e, ev := d.scales[k], es[k], evs[k]
				for i := range grid {
					grid[i] += combine(v.Score, sc, e[i], ev[i]) / float32(len(members[vi]))
				}
			}
			for i := 0; i < n; i++ {
				g := grid[i*hw : (i+1)*hw]
				for j, val := range g {
					if math.IsNaN(float64(val)) || math.IsInf(float64(val), 0) {
						return nil, fmt.Errorf("students: image %d: %s: non-finite score %v at location %d", lo+i, v, val, j)
					}
				}
				img := images[lo+i]
				m, s := d.cfg.Geometry.ScoreMap(g, h, w, d.cfg.Sigma, img.H, img.W)
				out[vi][lo+i] = detector.Result{Score: float64(s), Map: m}
			}
		}
	}
	return out, nil
}

// combine is one location's score at one receptive field.
func combine(score string, sc *scale, e, v float32) float32 {
	ez := (e - sc.stats[0]) / sc.stats[1]
	vz := (v - sc.stats[2]) / sc.stats[3]
	switch score {
	case "e":
		return ez
	case "v":
		return vz
	}
	return ez + vz
}

// Tensors returns the fitted state: per receptive field p, the teacher's
// and every student's weights ("p33.teacher.conv0.weight",
// "p33.student2.conv0.weight"), the teacher descriptor statistics and the
// score statistics.
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, sc := range d.scales {
		pre := fmt.Sprintf("p%d.", sc.p)
		for _, t := range nn.StateTensors(sc.teacher) {
			t.Name = pre + "teacher." + t.Name
			ts = append(ts, t)
		}
		for m, s := range sc.students {
			for _, t := range nn.StateTensors(s) {
				t.Name = fmt.Sprintf("%sstudent%d.%s", pre, m, t.Name)
				ts = append(ts, t)
			}
		}
		ts = append(ts,
			safetensors.F32(pre+"t_mean", []int{len(sc.tMean)}, sc.tMean),
			safetensors.F32(pre+"t_std", []int{len(sc.tStd)}, sc.tStd),
			safetensors.F32(pre+"score_stats", []int{4}, sc.stats[:]))
	}
	return ts
}

// Restore loads the fitted state, checking every tensor's presence, shape
// and values (finite; deviations positive).
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	nd, err := New(raw)
	if err != nil {
		return err
	}
	*d = *nd
	f := &safetensors.File{Tensors: ts}
	load := func(net *arch.PatchNet, prefix string) error {
		if err := nn.LoadState(f, net, prefix, true); err != nil {
			return err
		}
		for _, p := range net.Params() {
			if err := modelcheck.Finite(prefix+p.Name, p.Value.Data); err != nil {
				return err
			}
		}
		nn.SetRequiresGrad(net.Params(), false)
		return nil
	}
	for _, p := range d.cfg.PatchSizes {
		pre := fmt.Sprintf("p%d.", p)
		t, err := arch.NewPatchNet(p, d.cfg.Dim, d.cfg.Width, 0)
		if err != nil {
			return err
		}
		sc := &scale{p: p, teacher: t}
		if err := load(t, pre+"teacher."); err != nil {
			return err
		}
		for m := 0; m < d.cfg.Students; m++ {
			s, _ := arch.NewPatchNet(p, d.cfg.Dim, d.cfg.Width, 0)
			if err := load(s, fmt.Sprintf("%sstudent%d.", pre, m)); err != nil {
				return err
			}
			sc.students = append(sc.students, s)
		}
		if sc.tMean, err = modelcheck.Float32s(ts, pre+"t_mean", d.cfg.Dim); err != nil {
			return err
		}
		if sc.tStd, err = modelcheck.Float32s(ts, pre+"t_std", d.cfg.Dim); err != nil {
			return err
		}
		for i, v := range sc.tStd {
			if !(v > 0) {
				return fmt.Errorf("tensor %q: entry %d is %v, want > 0", pre+"t_std", i, v)
			}
		}
		st, err := modelcheck.Float32s(ts, pre+"score_stats", 4)
		if err != nil {
			return err
		}
		copy(sc.stats[:], st)
		if err := checkStats(sc); err != nil {
			return fmt.Errorf("tensor %q: %v", pre+"score_stats", err)
		}
		d.scales = append(d.scales, sc)
	}
	return nil
}
