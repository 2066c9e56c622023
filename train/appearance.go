package train

import (
	"fmt"

	"github.com/vigil-ad/vigil/imageio"
)

// ModelChannels is the channel count of a model fitted on images like img:
// 1 when gray is asked or img is gray (with or without alpha), else 3.
func ModelChannels(gray bool, img *imageio.Image) int {
	if gray || img.C <= 2 {
		return 1
	}
	return 3
}

// Appearance returns img without its alpha channel (2 channels become 1, 4
// become 3: alpha carries no appearance), after checking that img is a
// consistent image of 1 to 4 channels; i numbers it in errors.
func Appearance(img *imageio.Image, i int) (*imageio.Image, error) {
	if img == nil || img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
		return nil, fmt.Errorf("image %d: empty or inconsistent image", i)
	}
	if img.C > 4 {
		return nil, fmt.Errorf("image %d: %d channels, want 1 to 4", i, img.C)
	}
	if img.C == 2 || img.C == 4 {
		img = &imageio.Image{C: img.C - 1, H: img.H, W: img.W, Pix: img.Pix[:(img.C-1)*img.H*img.W]}
	}
	return img, nil
}

// AppearanceSet is NewSet over the images' appearance (alpha dropped) at
// channels and size×size. A colour image for a gray model is refused
// unless gray says to convert it.
func AppearanceSet(imgs []*imageio.Image, channels int, gray bool, size int) (*Set, error) {
	in := make([]*imageio.Image, len(imgs))
	for i, img := range imgs {
		img, err := Appearance(img, i)
		if err != nil {
			return nil, err
		}
		if channels == 1 && img.C == 3 && !gray {
			return nil, fmt.Errorf("image %d has 3 channels; the model was fitted on gray images (use gray to convert)", i)
		}
		in[i] = img
	}
	return NewSet(in, SetOptions{Channels: channels, Width: size, Height: size})
}
