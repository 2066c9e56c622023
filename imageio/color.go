package imageio

import "fmt"

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
