package train

import (
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func TestAppearance(t *testing.T) {
	for _, c := range []struct {
		in, want, model int // input channels, after alpha is dropped, the model's
	}{{1, 1, 1}, {2, 1, 1}, {3, 3, 3}, {4, 3, 3}} {
		img := imageio.New(c.in, 2, 3)
		for i := range img.Pix {
			img.Pix[i] = float32(i)
		}
		got, err := Appearance(img, 0)
		if err != nil || got.C != c.want || len(got.Pix) != c.want*6 || got.Pix[len(got.Pix)-1] != float32(c.want*6-1) {
			t.Errorf("%d channels: %+v, %v; want the first %d planes", c.in, got, err, c.want)
		}
		if m := ModelChannels(false, img); m != c.model {
			t.Errorf("%d channels: model channels %d, want %d", c.in, m, c.model)
		}
		if ModelChannels(true, img) != 1 {
			t.Errorf("%d channels: gray model must have 1 channel", c.in)
		}
	}
	bad := []*imageio.Image{nil, {C: 1, H: 2, W: 2, Pix: make([]float32, 3)}, imageio.New(5, 2, 2)}
	for i, img := range bad {
		if _, err := Appearance(img, 7); err == nil || !strings.Contains(err.Error(), "image 7") {
			t.Errorf("bad image %d: %v, want an error naming image 7", i, err)
		}
	}
	colour := []*imageio.Image{imageio.New(1, 4, 4), imageio.New(4, 4, 4)}
	if _, err := AppearanceSet(colour, 1, false, 4); err == nil || !strings.Contains(err.Error(), "image 1 has 3 channels") {
		t.Errorf("colour image for a gray model: %v", err)
	}
	s, err := AppearanceSet(colour, 1, true, 4)
	if err != nil || s.Len() != 2 || s.Channels() != 1 {
		t.Errorf("gray conversion: %v", err)
	}
}
