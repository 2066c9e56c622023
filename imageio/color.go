package imageio

import "fmt"

// Normalize returns (img - mean[c]) / std[c] per channel as a new image.
// mean and std hold one value per channel, or a single value applied to
// every channel; any other length, or a zero std, panics (a programming
// error: these come from a backbone's fixed constants).
func Normalize(img *Image, mean, std []float32) *Image {
	pick := func(v []float32, c int, what string) float32 {
		switch len(v) {
		case img.C:
			return v[c]
		case 1:
			return v[0]
		}
		panic(fmt.Sprintf("imageio: Normalize: %d %s values for a %d-channel image", len(v), what, img.C))
	}
	out := New(img.C, img.H, img.W)
	hw := img.H * img.W
	for c := 0; c < img.C; c++ {
		m, s := pick(mean, c, "mean"), pick(std, c, "std")
		if s == 0 {
			panic("imageio: Normalize: zero std")
		}
		inv := 1 / s
		src, dst := img.Pix[c*hw:(c+1)*hw], out.Pix[c*hw:(c+1)*hw]
		for i, v := range src {
			dst[i] = (v - m) * inv
		}
	}
	return out
}

// ToRGB returns a 3-channel image: a gray image is replicated into three
// identical channels, an RGB image is copied. Other channel counts are
// refused.
func ToRGB(img *Image) (*Image, error) {
	switch img.C {
	case 3:
		return img.Clone(), nil
	case 1:
		hw := img.H * img.W
		out := New(3, img.H, img.W)
		for c := 0; c < 3; c++ {
			copy(out.Pix[c*hw:(c+1)*hw], img.Pix)
		}
		return out, nil
	}
	return nil, fmt.Errorf("imageio: ToRGB: cannot convert a %d-channel image", img.C)
}

// ToGray returns a 1-channel image: RGB is reduced to luma
// 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), gray is copied. Other channel
// counts are refused.
func ToGray(img *Image) (*Image, error) {
	switch img.C {
	case 1:
		return img.Clone(), nil
	case 3:
		hw := img.H * img.W
		out := New(1, img.H, img.W)
		r, g, b := img.Pix[:hw], img.Pix[hw:2*hw], img.Pix[2*hw:3*hw]
		for i := range out.Pix {
			out.Pix[i] = 0.299*r[i] + 0.587*g[i] + 0.114*b[i]
		}
		return out, nil
	}
	return nil, fmt.Errorf("imageio: ToGray: cannot convert a %d-channel image", img.C)
}
