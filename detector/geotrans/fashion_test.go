package geotrans_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector/geotrans"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/metrics"
	"github.com/vigil-ad/vigil/train"
)

const fashionDir = "/usr/share/datasets/fashion-mnist"

// TestFashionOneClass is the one-class Fashion-MNIST benchmark (train on
// class k of the 60k training split, test on the whole 10k test split),
// not a unit test: it runs only with VIGIL_GEOTRANS_CLASSES set, e.g.
//
//	VIGIL_GEOTRANS_CLASSES=0,1 VIGIL_GEOTRANS_CONFIG='{"seed":1}' \
//	  go test -count=1 -run FashionOneClass -v -timeout 0 ./detector/geotrans
//
// VIGIL_GEOTRANS_TEST limits the test images (evenly spaced) for quick runs.
// It prints one line per class: both AUROCs and the fit and scoring time.
func TestFashionOneClass(t *testing.T) {
	classes := os.Getenv("VIGIL_GEOTRANS_CLASSES")
	if classes == "" {
		t.Skip("set VIGIL_GEOTRANS_CLASSES (e.g. 0,1,...,9) to run the Fashion-MNIST benchmark")
	}
	if _, err := os.Stat(fashionDir); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	maxTest, _ := strconv.Atoi(os.Getenv("VIGIL_GEOTRANS_TEST"))
	for _, cs := range splitComma(classes) {
		k, err := strconv.Atoi(cs)
		if err != nil {
			t.Fatal(err)
		}
		// All training images of the class: the Dirichlets need no
		// calibration split here.
		ds, err := dataset.LoadIDX(fashionDir, k, dataset.Options{ValFraction: -1, MinVal: -1})
		if err != nil {
			t.Fatal(err)
		}
		var tr, te []*imageio.Image
		var labels []int
		for _, s := range ds.Train {
			tr = append(tr, s.Image)
		}
		step := 1
		if maxTest > 0 && maxTest < len(ds.Test) {
			step = len(ds.Test) / maxTest
		}
		for i := 0; i < len(ds.Test); i += step {
			te = append(te, ds.Test[i].Image)
			labels = append(labels, ds.Test[i].Label)
		}
		d, err := geotrans.New(json.RawMessage(os.Getenv("VIGIL_GEOTRANS_CONFIG")))
		if err != nil {
			t.Fatal(err)
		}
		d.SetTrainSession(train.Session{Progress: func(e train.Epoch) {
			t.Logf("class %d epoch %d/%d loss %.4f lr %.2g elapsed %v", k, e.Epoch, e.Epochs, e.Loss, e.LR, e.Elapsed.Round(time.Second))
		}})
		start, cpu0 := time.Now(), cpuSeconds()
		if err := d.Fit(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
		fit, fitCPU := time.Since(start), cpuSeconds()-cpu0
		start, cpu0 = time.Now(), cpuSeconds()
		dir, prob, err := d.Scores(context.Background(), te)
		if err != nil {
			t.Fatal(err)
		}
		score, scoreCPU := time.Since(start), cpuSeconds()-cpu0
		aDir, err := metrics.AUROC(dir, labels)
		if err != nil {
			t.Fatal(err)
		}
		aProb, err := metrics.AUROC(prob, labels)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("geotrans fashion class %d: auroc_dirichlet %.4f auroc_mean_prob %.4f train_images %d test_images %d fit_s %.1f fit_cpu_s %.1f score_s %.1f score_cpu_s %.1f\n",
			k, aDir, aProb, len(tr), len(te), fit.Seconds(), fitCPU, score.Seconds(), scoreCPU)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// cpuSeconds is the process's user+system CPU time: on a shared machine
// it measures the work independently of the load (wall time on two free
// cores is about half of it when both are kept busy).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
