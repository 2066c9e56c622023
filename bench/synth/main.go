// Command synth writes a synthetic inspection data set of any size in the
// MVTec AD layout, for memory and throughput benchmarks where the image
// count and resolution matter and the content does not: smooth textured
// normals, and test images with a bright blob and its mask.
//
//	go run ./bench/synth -out DIR -train 200 -test 1000 -w 1130 -h 460
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "", "output folder (MVTec AD layout)")
	nTrain := flag.Int("train", 100, "normal training images")
	nTest := flag.Int("test", 100, "test images (half normal, half with a defect)")
	w := flag.Int("w", 1130, "image width")
	h := flag.Int("h", 460, "image height")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	if *out == "" || *w < 16 || *h < 16 || *nTrain < 1 || *nTest < 0 {
		fmt.Fprintln(os.Stderr, "usage: synth -out DIR [-train N] [-test N] [-w W] [-h H]")
		os.Exit(2)
	}
	for _, d := range []string{"train/good", "test/good", "test/blob", "ground_truth/blob"} {
		if err := os.MkdirAll(filepath.Join(*out, d), 0o755); err != nil {
			fail(err)
		}
	}
	for i := range *nTrain {
		img, _ := texture(*w, *h, *seed, uint64(i), false)
		save(filepath.Join(*out, "train/good", fmt.Sprintf("%04d.jpg", i)), img)
	}
	for i := range *nTest {
		bad := i%2 == 1
		img, mask := texture(*w, *h, *seed, uint64(1_000_000+i), bad)
		if !bad {
			save(filepath.Join(*out, "test/good", fmt.Sprintf("%04d.jpg", i)), img)
			continue
		}
		save(filepath.Join(*out, "test/blob", fmt.Sprintf("%04d.jpg", i)), img)
		savePNG(filepath.Join(*out, "ground_truth/blob", fmt.Sprintf("%04d_mask.png", i)), mask)
	}
}

// texture is a gray sum of random sinusoids with noise; bad adds a bright
// elliptic blob.
func texture(w, h int, seed, idx uint64, bad bool) (*image.Gray, *image.Gray) {
	rng := rand.New(rand.NewPCG(seed, idx))
	img := image.NewGray(image.Rect(0, 0, w, h))
	var fx, fy, ph [4]float64
	for k := range fx {
		fx[k], fy[k], ph[k] = rng.Float64()*0.08, rng.Float64()*0.08, rng.Float64()*6.28
	}
	cx, cy := rng.Float64()*float64(w), rng.Float64()*float64(h)
	r := 8 + rng.Float64()*20
	mask := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128.0
			for k := range fx {
				v += 12 * math.Sin(fx[k]*float64(x)+fy[k]*float64(y)+ph[k])
			}
			v += rng.NormFloat64() * 6
			if bad && math.Hypot(float64(x)-cx, (float64(y)-cy)*1.5) < r {
				v += 70
				mask.SetGray(x, y, color.Gray{255})
			}
			img.SetGray(x, y, color.Gray{uint8(min(255, max(0, v)))})
		}
	}
	return img, mask
}

func save(path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func savePNG(path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if err := png.Encode(f, img); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "synth:", err)
	os.Exit(1)
}
