package metrics

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ReadScoresCSV reads image scores from CSV rows "score,label[,name]". A
// first row whose first field is not a number is taken as a header and
// skipped. Labels must be 0 (normal) or 1 (anomalous); scores must be
// finite. names has one entry per row ("" when the row has no name).
// Errors name the file (name) and the line.
func ReadScoresCSV(r io.Reader, name string) (scores []float64, labels []int, names []string, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, nil, fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
			}
			return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		f0 := strings.TrimSpace(rec[0])
		if first {
			f0 = strings.TrimPrefix(f0, "\ufeff") // spreadsheet byte-order mark
		}
		s, perr := strconv.ParseFloat(f0, 64)
		if first {
			first = false
			if perr != nil {
				continue // header
			}
		}
		if len(rec) < 2 || len(rec) > 3 {
			return nil, nil, nil, fmt.Errorf("%s:%d: got %d fields, want score,label[,name]", name, line, len(rec))
		}
		if perr != nil {
			return nil, nil, nil, fmt.Errorf("%s:%d: score %q is not a number", name, line, f0)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, nil, nil, fmt.Errorf("%s:%d: score %q is not finite", name, line, f0)
		}
		f1 := strings.TrimSpace(rec[1])
		var l int
		switch f1 {
		case "0":
			l = 0
		case "1":
			l = 1
		default:
			return nil, nil, nil, fmt.Errorf("%s:%d: label %q must be 0 (normal) or 1 (anomalous)", name, line, f1)
		}
		n := ""
		if len(rec) == 3 {
			n = strings.TrimSpace(rec[2])
		}
		scores = append(scores, s)
		labels = append(labels, l)
		names = append(names, n)
	}
	if len(scores) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no score rows", name)
	}
	return scores, labels, names, nil
}
