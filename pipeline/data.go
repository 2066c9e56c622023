package pipeline

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/vigil-ad/vigil/dataset"
)

// checkSource checks a dataset selection before any image is read:
// exactly one form, and its paths exist.
func checkSource(s dataset.Source) error {
	forms := 0
	for _, p := range []string{s.Dir, s.Normal, s.IDX, s.Manifest} {
		if p != "" {
			forms++
		}
	}
	if forms != 1 {
		return optErr("data", "give exactly one of --data DIR, --normal DIR --abnormal DIR, --idx DIR or --manifest FILE.csv")
	}
	switch {
	case s.Dir != "":
		if _, err := os.Stat(s.Dir); err != nil {
			return optErr("data", "%s does not exist", s.Dir)
		}
	case s.Normal != "":
		if err := checkInput("normal", s.Normal, true); err != nil {
			return err
		}
		if s.Abnormal != "" {
			if err := checkInput("abnormal", s.Abnormal, true); err != nil {
				return err
			}
		}
		if s.Masks != "" {
			return checkInput("masks", s.Masks, true)
		}
	case s.IDX != "":
		if err := checkInput("idx", s.IDX, true); err != nil {
			return err
		}
	case s.Manifest != "":
		return checkInput("manifest", s.Manifest, false)
	}
	return nil
}

func sourceDesc(s dataset.Source) string {
	switch {
	case s.Dir != "":
		return s.Dir
	case s.Normal != "":
		return s.Normal
	case s.IDX != "":
		return fmt.Sprintf("%s (normal class %d)", s.IDX, s.NormalClass)
	case s.Manifest != "":
		return s.Manifest
	}
	return ""
}

// seededPerm is a permutation of [0,n) fixed by seed.
func seededPerm(n int, seed uint64) []int {
	return rand.New(rand.NewPCG(seed, 0x63765f666f6c6473)).Perm(n) // "cv_folds"
}
