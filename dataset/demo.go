package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
)

// DemoOptions configures the procedural demo dataset.
type DemoOptions struct {
	Seed      uint64 // fixes every random choice
	Family    string // texture family (see DemoFamilies); "" means "weave"
	Size      int    // image side in pixels; 0 means 64, at least 16
	NTrain    int    // normal training images before Val is carved; 0 means 80
	NTestGood int    // normal test images; 0 means 20
	NTestBad  int    // defective test images; 0 means 40
}

var demoFamilies = []string{"weave", "grain", "brushed", "granite"}

// demoDefects are the synthetic defect types, assigned to the defective
// test images in turn.
var demoDefects = []string{"scratch", "spot", "hole", "drift"}

// DemoFamilies returns the texture families Demo can generate: "weave"
// (plain-woven fabric), "grain" (wood), "brushed" (brushed metal) and
// "granite" (speckled stone).
func DemoFamilies() []string { return append([]string(nil), demoFamilies...) }

// DemoDefects returns the synthetic defect types: "scratch" (a thin bright
// or dark line), "spot" (a small stain blob), "hole" (a dark disc) and
// "drift" (a region with shifted colour and brightness).
func DemoDefects() []string { return append([]string(nil), demoDefects...) }

// Demo generates the demo dataset; it panics on invalid options (see
// GenerateDemo for the checked form).
func Demo(opt DemoOptions) *Dataset {
	ds, err := GenerateDemo(opt)
	if err != nil {
		panic(err)
	}
	return ds
}

// GenerateDemo deterministically generates a dataset of one texture family:
// RGB Size×Size images of a textured surface whose phase, orientation,
// scale, illumination and noise vary from image to image. Defective test
// images carry one synthetic defect each (types in turn, see DemoDefects),
// covering roughly 0.5%-5% of the image, with an exact mask: 1 on the
// pixels the defect modified, 0 elsewhere. Val is carved from the NTrain
// training images as LoadMVTec does with default Options and the same seed
// (10%, at least 5, but at most half). The Test order matches LoadMVTec's
// (defect folder, then name), so a dataset written with WriteMVTec loads
// back in the same order.
func GenerateDemo(opt DemoOptions) (*Dataset, error) {
	fam := opt.Family
	if fam == "" {
		fam = "weave"
	}
	fi := -1
	for i, f := range demoFamilies {
		if f == fam {
			fi = i
		}
	}
	if fi < 0 {
		return nil, fmt.Errorf("dataset: unknown demo family %q (have %s)", fam, strings.Join(demoFamilies, ", "))
	}
	def := func(v, d int, what string) (int, error) {
		if v < 0 {
			return 0, fmt.Errorf("dataset: demo %s is negative (%d)", what, v)
		}
		if v == 0 {
			return d, nil
		}
		return v, nil
	}
	size, err := def(opt.Size, 64, "size")
	if err != nil {
		return nil, err
	}
	if size < 16 {
		return nil, fmt.Errorf("dataset: demo size %d is below the minimum of 16", size)
	}
	nTrain, err := def(opt.NTrain, 80, "NTrain")
	if err != nil {
		return nil, err
	}
	nGood, err := def(opt.NTestGood, 20, "NTestGood")
	if err != nil {
		return nil, err
	}
	nBad, err := def(opt.NTestBad, 40, "NTestBad")
	if err != nil {
		return nil, err
	}
	if nTrain < 2 {
		return nil, fmt.Errorf("dataset: demo NTrain must be at least 2 (got %d)", nTrain)
	}

	g := demoGen{family: fi, size: size, seed: opt.Seed}
	train := make([]Sample, nTrain)
	test := make([]Sample, nGood+nBad)
	perType := make([]int, len(demoDefects))
	badNames := make([]string, nBad)
	for i := range badNames {
		t := i % len(demoDefects)
		badNames[i] = fmt.Sprintf("%s/%03d", demoDefects[t], perType[t])
		perType[t]++
	}
	prefix := "demo:" + fam + "/"
	// images are independent (each has its own seeded stream), so they are
	// generated in parallel without affecting determinism
	parallelDo(nTrain+nGood+nBad, func(i int) error {
		switch {
		case i < nTrain:
			name := fmt.Sprintf("good/%03d", i)
			train[i] = Sample{Path: prefix + "train/" + name, Name: name, Defect: "good",
				Image: g.normal(g.rng(0, i))}
		case i < nTrain+nGood:
			k := i - nTrain
			name := fmt.Sprintf("good/%03d", k)
			img := g.normal(g.rng(1, k))
			test[k] = Sample{Path: prefix + "test/" + name, Name: name, Defect: "good",
				Image: img, Mask: imageio.NewMap(size, size)}
		default:
			k := i - nTrain - nGood
			rng := g.rng(2, k)
			img := g.normal(rng)
			t := k % len(demoDefects)
			mask := g.defect(img, t, rng)
			test[nGood+k] = Sample{Path: prefix + "test/" + badNames[k], Name: badNames[k], Label: 1,
				Defect: demoDefects[t], Image: img, Mask: mask}
		}
		return nil
	})
	sort.SliceStable(test, func(a, b int) bool {
		if test[a].Defect != test[b].Defect {
			return test[a].Defect < test[b].Defect
		}
		return test[a].Name < test[b].Name
	})
	k := min(Options{}.valCount(nTrain), nTrain/2)
	ds := &Dataset{Name: "demo-" + fam, Layout: LayoutDemo, Test: test, HasMasks: nBad > 0, Split: Options{Seed: opt.Seed}.splitInfo(0)}
	ds.Train, ds.Val = partition(train, pickSubset(nTrain, k, opt.Seed, streamVal))
	if nBad == 0 {
		for i := range ds.Test {
			ds.Test[i].Mask = nil
		}
	}
	return ds, nil
}

// demoGen renders the images of one family.
type demoGen struct {
	family, size int
	seed         uint64
}

// rng returns the random stream of image i of a split (0 train, 1 good
// test, 2 defective test).
func (g demoGen) rng(split, i int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, streamDemo^uint64(g.family)<<40^uint64(split)<<32^uint64(i)))
}

// noise is seeded 2D value noise on a periodic lattice.
type noise struct {
	v []float32
}

const noiseN = 64 // lattice period

func newNoise(rng *rand.Rand) *noise {
	n := &noise{v: make([]float32, noiseN*noiseN)}
	for i := range n.v {
		n.v[i] = rng.Float32()*2 - 1
	}
	return n
}

// at returns smoothly interpolated noise in [-1,1] at lattice coordinates.
func (n *noise) at(x, y float64) float32 {
	fx, fy := math.Floor(x), math.Floor(y)
	tx, ty := float32(x-fx), float32(y-fy)
	tx, ty = tx*tx*(3-2*tx), ty*ty*(3-2*ty)
	ix, iy := int(fx)&(noiseN-1), int(fy)&(noiseN-1)
	ix1, iy1 := (ix+1)&(noiseN-1), (iy+1)&(noiseN-1)
	a := n.v[iy*noiseN+ix] + (n.v[iy*noiseN+ix1]-n.v[iy*noiseN+ix])*tx
	b := n.v[iy1*noiseN+ix] + (n.v[iy1*noiseN+ix1]-n.v[iy1*noiseN+ix])*tx
	return a + (b-a)*ty
}

// fbm sums octaves of noise at halving scales and amplitudes.
func (n *noise) fbm(x, y float64, octaves int) float32 {
	var s, amp, norm float32 = 0, 1, 0
	for o := 0; o < octaves; o++ {
		// offset each octave so they do not share lattice points
		s += amp * n.at(x+float64(o)*17.3, y+float64(o)*31.7)
		norm += amp
		amp *= 0.5
		x, y = x*2, y*2
	}
	return s / norm
}

func jitter(rng *rand.Rand, amp float64) float64 { return (rng.Float64()*2 - 1) * amp }

// normal renders one defect-free image.
func (g demoGen) normal(rng *rand.Rand) *imageio.Image {
	S := g.size
	s := float64(S) / 64 // feature sizes scale with the image
	img := imageio.New(3, S, S)
	hw := S * S
	theta := jitter(rng, 3*math.Pi/180)
	cs, sn := math.Cos(theta), math.Sin(theta)
	k := 1 + jitter(rng, 0.05) // scale jitter
	ox, oy := rng.Float64()*1000, rng.Float64()*1000
	gain := 1 + jitter(rng, 0.06)
	gx, gy := jitter(rng, 0.06), jitter(rng, 0.06)
	n1, n2, n3 := newNoise(rng), newNoise(rng), newNoise(rng)
	var threadVar [2][noiseN]float32
	for i := range threadVar {
		for j := range threadVar[i] {
			threadVar[i][j] = float32(jitter(rng, 0.06))
		}
	}
	phase := rng.Float64() * 2 * math.Pi
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			u := cs*fx + sn*fy + ox
			v := -sn*fx + cs*fy + oy
			var r, gg, b float32
			switch g.family {
			case 0: // weave: plain-woven threads, blue warp over light weft
				p := 8 * s * k
				a, bb := u/p, v/p
				iu, iv := math.Floor(a), math.Floor(bb)
				fu, fv := a-iu, bb-iv
				var prof, along float64
				var col [3]float32
				var tv float32
				if (int(iu)+int(iv))&1 == 0 {
					prof, along = math.Sin(math.Pi*fu), 0.85+0.15*math.Sin(math.Pi*fv)
					col = [3]float32{0.30, 0.42, 0.72}
					tv = threadVar[0][int(iu)&(noiseN-1)]
				} else {
					prof, along = math.Sin(math.Pi*fv), 0.85+0.15*math.Sin(math.Pi*fu)
					col = [3]float32{0.62, 0.66, 0.76}
					tv = threadVar[1][int(iv)&(noiseN-1)]
				}
				val := float32(0.25+0.65*math.Sqrt(prof)*along) + tv + 0.03*n1.at(u/(3*s), v/(3*s))
				r, gg, b = col[0]*val, col[1]*val, col[2]*val
			case 1: // grain: wood rings with wavy distortion and fibre streaks
				warp := 6 * s * float64(n1.fbm(u/(24*s), v/(10*s), 2))
				t := (v + warp) / (5 * s * k)
				line := float32(math.Pow(0.5+0.5*math.Cos(2*math.Pi*t+phase), 4))
				fibre := 1 + 0.06*n2.at(u/(12*s), v/(0.8*s))
				m := 0.7 * line
				r = (0.78*(1-m) + 0.50*m) * fibre
				gg = (0.56*(1-m) + 0.30*m) * fibre
				b = (0.34*(1-m) + 0.16*m) * fibre
			case 2: // brushed: anisotropic streaks along u plus a broad sheen
				streak := 0.07*n1.at(u/(40*s), v/(0.6*s)) + 0.04*n2.at(u/(9*s), v/(0.5*s))
				sheen := float32(0.08 * math.Cos(2*math.Pi*v/(1.3*float64(S)*k)+phase))
				f := 1 + streak + sheen
				r, gg, b = 0.60*f, 0.62*f, 0.66*f
			case 3: // granite: mottled base with dark and light crystals
				base := 0.12 * n1.fbm(u/(10*s*k), v/(10*s*k), 3)
				r, gg, b = 0.55+base, 0.50+base, 0.50+base
				if h := n2.at(u/(2*s), v/(2*s)); h > 0.62 {
					r, gg, b = 0.38, 0.36, 0.37
				} else if h < -0.68 {
					r, gg, b = 0.72, 0.69, 0.67
				}
				w := 0.04 * n3.at(u/(2*s), v/(2*s))
				r, gg, b = r+w, gg+w, b+w
			}
			// illumination: global gain and a gentle linear gradient
			l := float32(gain + gx*(fx/float64(S)-0.5) + gy*(fy/float64(S)-0.5))
			i := y*S + x
			img.Pix[i] = r * l
			img.Pix[hw+i] = gg * l
			img.Pix[2*hw+i] = b * l
		}
	}
	for i := range img.Pix {
		img.Pix[i] = clamp01(img.Pix[i] + float32(rng.NormFloat64()*0.012))
	}
	return img
}

func clamp01(v float32) float32 { return min(max(v, 0), 1) }

// stainColour is the spot colour per family, chosen to contrast with it.
var stainColour = [][3]float32{
	{0.55, 0.35, 0.12}, // brown stain on blue fabric
	{0.15, 0.22, 0.40}, // ink on wood
	{0.58, 0.30, 0.10}, // rust on metal
	{0.80, 0.42, 0.08}, // rust on stone
}

// defect draws defect type t into img and returns its exact mask.
func (g demoGen) defect(img *imageio.Image, t int, rng *rand.Rand) *imageio.Map {
	S := g.size
	s := float64(S) / 64
	mask := imageio.NewMap(S, S)
	margin := 6 * s
	pos := func() (float64, float64) {
		return margin + rng.Float64()*(float64(S)-2*margin), margin + rng.Float64()*(float64(S)-2*margin)
	}
	var inside func(x, y float64) bool
	switch t {
	case 0: // scratch: a thin straight segment
		x0, y0 := pos()
		var x1, y1 float64
		for try := 0; ; try++ {
			ang := rng.Float64() * 2 * math.Pi
			l := (16 + rng.Float64()*14) * s
			x1, y1 = x0+l*math.Cos(ang), y0+l*math.Sin(ang)
			if (x1 >= margin && x1 <= float64(S)-margin && y1 >= margin && y1 <= float64(S)-margin) || try > 50 {
				x1, y1 = min(max(x1, margin), float64(S)-margin), min(max(y1, margin), float64(S)-margin)
				break
			}
		}
		half := max(0.75, 0.6*s)
		inside = func(x, y float64) bool { return segDist(x, y, x0, y0, x1, y1) <= half }
	case 1, 2: // spot: rotated ellipse; hole: disc
		cx, cy := pos()
		a := (2.5 + rng.Float64()*2) * s
		b := (2.5 + rng.Float64()*2) * s
		if t == 2 {
			a = (3 + rng.Float64()*2) * s
			b = a
		}
		phi := rng.Float64() * math.Pi
		inside = func(x, y float64) bool { return inEllipse(x-cx, y-cy, a, b, phi) }
	default: // drift: a larger ellipse of shifted colour
		cx, cy := pos()
		a := (5 + rng.Float64()*3) * s
		b := (4 + rng.Float64()*3) * s
		phi := rng.Float64() * math.Pi
		inside = func(x, y float64) bool { return inEllipse(x-cx, y-cy, a, b, phi) }
	}
	hw := S * S
	bright := rng.IntN(2) == 0
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			if !inside(float64(x)+0.5, float64(y)+0.5) {
				continue
			}
			i := y*S + x
			mask.Pix[i] = 1
			px := [3]*float32{&img.Pix[i], &img.Pix[hw+i], &img.Pix[2*hw+i]}
			for c, p := range px {
				v := *p
				switch t {
				case 0:
					target := float32(0.05)
					if bright {
						target = 0.97
					}
					v += (target - v) * 0.8
				case 1:
					v += (stainColour[g.family][c]*0.7 - v) * 0.85
				case 2:
					v = 0.03 + 0.02*rng.Float32()
				default:
					gain := [2][3]float32{{1.3, 1.05, 0.7}, {0.7, 0.8, 1.2}}
					off := [2][3]float32{{0.06, 0.02, -0.04}, {-0.05, -0.02, 0.06}}
					m := 0
					if bright {
						m = 1
					}
					v = v*gain[m][c] + off[m][c]
				}
				*p = clamp01(v)
			}
		}
	}
	return mask
}

// segDist is the distance from (x,y) to the segment (x0,y0)-(x1,y1).
func segDist(x, y, x0, y0, x1, y1 float64) float64 {
	dx, dy := x1-x0, y1-y0
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = min(max(((x-x0)*dx+(y-y0)*dy)/l2, 0), 1)
	}
	return math.Hypot(x-x0-t*dx, y-y0-t*dy)
}

// inEllipse reports whether offset (dx,dy) lies in the ellipse with
// semi-axes a, b rotated by phi.
func inEllipse(dx, dy, a, b, phi float64) bool {
	c, s := math.Cos(phi), math.Sin(phi)
	u, v := (c*dx+s*dy)/a, (-s*dx+c*dy)/b
	return u*u+v*v <= 1
}
