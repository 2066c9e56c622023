package dataset

import (
	"fmt"
	"path/filepath"

	"github.com/vigil-ad/vigil/imageio"
)

// LoadIDXClasses reads one split of an MNIST-style IDX dataset with every
// class ("train" or "t10k": <split>-images-idx3-ubyte and
// <split>-labels-idx1-ubyte, raw or gzip-compressed) as 1-channel images in
// [0,1] and their integer labels, for classifiers (open-set recognition).
func LoadIDXClasses(dir, split string) ([]*imageio.Image, []int, error) {
	if err := requireDir(dir, "IDX dataset"); err != nil {
		return nil, nil, err
	}
	s, err := readIDXSplit(dir, split)
	if err != nil {
		return nil, nil, err
	}
	hw := s.h * s.w
	slab := make([]float32, s.n*hw)
	imgs := make([]*imageio.Image, s.n)
	labels := make([]int, s.n)
	for i := range imgs {
		imgs[i] = s.sample(i, slab[i*hw:], 0, "").Image
		labels[i] = int(s.labels[i])
	}
	return imgs, labels, nil
}

// ClassFiles lists a class-folder dataset: every subfolder of dir is a
// class (names sorted), holding its images (recognised by extension).
// It returns the image paths, the index of each one's class in names, and
// the class names. Folders without images are refused by name.
func ClassFiles(dir string) (paths []string, labels []int, names []string, err error) {
	if err := requireDir(dir, "class folders"); err != nil {
		return nil, nil, nil, err
	}
	subs, err := listSubdirs(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(subs) == 0 {
		return nil, nil, nil, fmt.Errorf("dataset: %s has no class subfolders", dir)
	}
	for _, c := range subs {
		files, err := listImages(filepath.Join(dir, c))
		if err != nil {
			return nil, nil, nil, err
		}
		if len(files) == 0 {
			return nil, nil, nil, fmt.Errorf("dataset: class folder %s has no images", filepath.Join(dir, c))
		}
		for _, f := range files {
			paths = append(paths, filepath.Join(dir, c, f))
			labels = append(labels, len(names))
		}
		names = append(names, c)
	}
	return paths, labels, names, nil
}
