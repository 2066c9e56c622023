package postprocess

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func mapOf(h, w int, v ...float32) *imageio.Map {
	m := imageio.NewMap(h, w)
	copy(m.Pix, v)
	return m
}

func TestBinarize(t *testing.T) {
	b := Binarize(mapOf(1, 4, 0.2, 0.5, 0.7, float32(math.NaN())), 0.5)
	if !slices.Equal(b.Pix, []float32{0, 1, 1, 0}) {
		t.Fatalf("%v", b.Pix)
	}
}

// bruteMorph is the definition: min (erode) or max (dilate) over the
// in-map part of the square window.
func bruteMorph(m *imageio.Map, r int, erode bool) *imageio.Map {
	out := imageio.NewMap(m.H, m.W)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			all, any := true, false
			for yy := max(0, y-r); yy <= min(m.H-1, y+r); yy++ {
				for xx := max(0, x-r); xx <= min(m.W-1, x+r); xx++ {
					fg := imageio.IsDefect(m.At(yy, xx))
					all = all && fg
					any = any || fg
				}
			}
			if (erode && all) || (!erode && any) {
				out.Set(y, x, 1)
			}
		}
	}
	return out
}

func TestMorphologyMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for rep := 0; rep < 200; rep++ {
		m := imageio.NewMap(1+rng.IntN(12), 1+rng.IntN(12))
		p := rng.Float64()
		for i := range m.Pix {
			if rng.Float64() < p {
				m.Pix[i] = 1
			}
		}
		r := rng.IntN(4)
		if !slices.Equal(Erode(m, r).Pix, bruteMorph(m, r, true).Pix) {
			t.Fatalf("rep %d: erode r=%d differs", rep, r)
		}
		if !slices.Equal(Dilate(m, r).Pix, bruteMorph(m, r, false).Pix) {
			t.Fatalf("rep %d: dilate r=%d differs", rep, r)
		}
	}
}

func TestOpenCloseHandMade(t *testing.T) {
	// A 3x3 block plus an isolated speck: opening (r=1) keeps the block,
	// removes the speck.
	m := mapOf(6, 7,
		0, 0, 0, 0, 0, 0, 0,
		0, 1, 1, 1, 0, 0, 0,
		0, 1, 1, 1, 0, 0, 0,
		0, 1, 1, 1, 0, 1, 0,
		0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0)
	want := slices.Clone(m.Pix)
	want[3*7+5] = 0
	if got := Open(m, 1); !slices.Equal(got.Pix, want) {
		t.Fatalf("open:\n%v\nwant\n%v", got.Pix, want)
	}
	// A 5x5 block with a one-pixel hole: closing fills it, and leaves the
	// block's outline unchanged.
	c := imageio.NewMap(7, 7)
	for y := 1; y <= 5; y++ {
		for x := 1; x <= 5; x++ {
			c.Set(y, x, 1)
		}
	}
	full := slices.Clone(c.Pix)
	c.Set(3, 3, 0)
	if got := Close(c, 1); !slices.Equal(got.Pix, full) {
		t.Fatalf("close: %v", got.Pix)
	}
	// Erode of a full map stays full: the border does not erode.
	f := imageio.NewMap(3, 4)
	for i := range f.Pix {
		f.Pix[i] = 1
	}
	if got := Erode(f, 2); !slices.Equal(got.Pix, f.Pix) {
		t.Fatal("full map eroded")
	}
}

func TestComponentsConnectivity(t *testing.T) {
	// A diagonal chain and a separate bar: 8-conn 2 components, 4-conn 4.
	m := mapOf(4, 5,
		1, 0, 0, 0, 1,
		0, 1, 0, 0, 1,
		0, 0, 1, 0, 0,
		0, 0, 0, 0, 0)
	labels, n, areas := Components(m, 8)
	if n != 2 || !slices.Equal(areas, []int{15, 3, 2}) || labels[0] != 1 || labels[6] != 1 || labels[12] != 1 || labels[4] != 2 || labels[9] != 2 {
		t.Fatalf("8-conn: n=%d areas=%v labels=%v", n, areas, labels)
	}
	_, n, areas = Components(m, 4)
	if n != 4 || !slices.Equal(areas, []int{15, 1, 2, 1, 1}) {
		t.Fatalf("4-conn: n=%d areas=%v", n, areas)
	}
	// Any non-zero value is foreground (imageio.IsDefect), not only >= 0.5.
	if _, n, _ := Components(mapOf(1, 3, 0.2, 0, -0.1), 8); n != 2 {
		t.Fatalf("non-zero foreground: %d components, want 2", n)
	}
	// RemoveSmall with 4-conn drops the three single pixels of the chain.
	r := RemoveSmall(m, 2, 4)
	want := make([]float32, 20)
	want[4], want[9] = 1, 1
	if !slices.Equal(r.Pix, want) {
		t.Fatalf("remove small 4-conn: %v", r.Pix)
	}
	// With 8-conn the chain (3 px) survives minArea 3, the bar (2 px) not.
	r = RemoveSmall(m, 3, 8)
	want = make([]float32, 20)
	want[0], want[6], want[12] = 1, 1, 1
	if !slices.Equal(r.Pix, want) {
		t.Fatalf("remove small 8-conn: %v", r.Pix)
	}
}

// ufCount counts components with union-find, an algorithm independent of
// Components, and reports whether two pixels are connected.
func ufCount(m *imageio.Map, eight bool) (int, func(a, b int) bool) {
	w, h := m.W, m.H
	parent := make([]int, w*h)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	fg := func(y, x int) bool { return y >= 0 && y < h && x >= 0 && x < w && imageio.IsDefect(m.At(y, x)) }
	nb := [][2]int{{-1, 0}, {0, -1}}
	if eight {
		nb = append(nb, [2]int{-1, -1}, [2]int{-1, 1})
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !fg(y, x) {
				continue
			}
			for _, d := range nb {
				if fg(y+d[0], x+d[1]) {
					parent[find(y*w+x)] = find((y+d[0])*w + x + d[1])
				}
			}
		}
	}
	n := 0
	for i := range parent {
		if fg(i/w, i%w) && find(i) == i {
			n++
		}
	}
	return n, func(a, b int) bool { return find(a) == find(b) }
}

func TestComponentsMatchUnionFind(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for rep := 0; rep < 200; rep++ {
		m := imageio.NewMap(1+rng.IntN(15), 1+rng.IntN(15))
		for i := range m.Pix {
			if rng.Float64() < 0.45 {
				m.Pix[i] = 1
			}
		}
		for _, conn := range []int{4, 8} {
			labels, n, areas := Components(m, conn)
			want, same := ufCount(m, conn == 8)
			if n != want {
				t.Fatalf("rep %d conn %d: %d components, union-find %d", rep, conn, n, want)
			}
			total := 0
			for _, a := range areas {
				total += a
			}
			if total != len(m.Pix) {
				t.Fatalf("areas %v do not sum to %d", areas, len(m.Pix))
			}
			for i := range labels {
				for j := i + 1; j < len(labels); j++ {
					if labels[i] > 0 && labels[j] > 0 && (labels[i] == labels[j]) != same(i, j) {
						t.Fatalf("rep %d conn %d: pixels %d,%d disagree", rep, conn, i, j)
					}
				}
			}
		}
	}
}

func TestCleanPipeline(t *testing.T) {
	// A 4x4 defect with one hole, a lone noise pixel, and a 2-pixel noise
	// bar; expected: the filled 4x4 block only.
	m := imageio.NewMap(12, 12)
	for y := 2; y < 6; y++ {
		for x := 2; x < 6; x++ {
			m.Set(y, x, 0.9)
		}
	}
	m.Set(3, 3, 0.1)
	m.Set(9, 9, 0.95)
	m.Set(10, 2, 0.8)
	m.Set(10, 3, 0.8)
	got := Clean(m, 0.5, CleanOptions{CloseRadius: 1, MinArea: 5})
	want := imageio.NewMap(12, 12)
	for y := 2; y < 6; y++ {
		for x := 2; x < 6; x++ {
			want.Set(y, x, 1)
		}
	}
	if !slices.Equal(got.Pix, want.Pix) {
		t.Fatalf("clean: %v", got.Pix)
	}
	// Opening alone removes the speck and the bar (both thinner than 3x3)
	// and keeps a solid block whole.
	m.Set(3, 3, 0.9)
	if o := Clean(m, 0.5, CleanOptions{OpenRadius: 1}); !slices.Equal(o.Pix, want.Pix) {
		t.Fatalf("open: %v", o.Pix)
	}
	// Closing near the border does not grow the shape into the border.
	edge := imageio.NewMap(5, 5)
	edge.Set(1, 1, 1)
	edge.Set(1, 2, 1)
	if c := Close(edge, 2); !slices.Equal(c.Pix, edge.Pix) {
		t.Fatalf("close near border: %v", c.Pix)
	}
	// Smoothing before thresholding spreads the speck below 0.5.
	s := Clean(m, 0.5, CleanOptions{Sigma: 1})
	if s.At(9, 9) != 0 {
		t.Fatal("smoothed speck should fall below the threshold")
	}
}

// BenchmarkClean256 measures the full mask pipeline on a 256x256 map.
func BenchmarkClean256(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := imageio.NewMap(256, 256)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.Float64())
	}
	for i := 0; i < b.N; i++ {
		Clean(m, 0.7, CleanOptions{OpenRadius: 1, CloseRadius: 1, MinArea: 30})
	}
}

// bruteClose is closing on the unbounded plane with background outside
// the map: p stays/turns foreground iff every q in p's square (in or out of
// the map) has a foreground map pixel within its own square.
func bruteClose(m *imageio.Map, r int) *imageio.Map {
	out := imageio.NewMap(m.H, m.W)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			all := true
			for qy := y - r; qy <= y+r && all; qy++ {
				for qx := x - r; qx <= x+r && all; qx++ {
					any := false
					for yy := max(0, qy-r); yy <= min(m.H-1, qy+r) && !any; yy++ {
						for xx := max(0, qx-r); xx <= min(m.W-1, qx+r); xx++ {
							if imageio.IsDefect(m.At(yy, xx)) {
								any = true
								break
							}
						}
					}
					all = any
				}
			}
			if all {
				out.Set(y, x, 1)
			}
		}
	}
	return out
}

func TestOpenCloseProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for rep := 0; rep < 150; rep++ {
		m := imageio.NewMap(1+rng.IntN(10), 1+rng.IntN(10))
		for i := range m.Pix {
			if rng.Float64() < 0.6 {
				m.Pix[i] = 1
			}
		}
		r := 1 + rng.IntN(2)
		c, o := Close(m, r), Open(m, r)
		if !slices.Equal(c.Pix, bruteClose(m, r).Pix) {
			t.Fatalf("rep %d: close r=%d differs from definition", rep, r)
		}
		for i := range m.Pix {
			if (m.Pix[i] == 1 && c.Pix[i] != 1) || (o.Pix[i] == 1 && m.Pix[i] != 1) {
				t.Fatalf("rep %d: closing must be extensive, opening anti-extensive", rep)
			}
		}
		if !slices.Equal(Close(c, r).Pix, c.Pix) || !slices.Equal(Open(o, r).Pix, o.Pix) {
			t.Fatalf("rep %d: open/close must be idempotent", rep)
		}
	}
}
