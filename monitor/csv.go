package monitor

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Point is one scored image of a stream, in time order.
type Point struct {
	Stream string
	Name   string
	Score  float64
}

// ReadCSV reads scores in time order: either one number per line, or a
// header naming the columns: score (required), stream (or camera, line:
// which stream the row belongs to; default one stream) and name (or path).
// Errors name the file and the line; a score that is not finite is an
// error.
func ReadCSV(r io.Reader, file string) ([]Point, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	col := map[string]int{"score": 0, "stream": -1, "name": -1}
	var out []Point
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v", file, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if first {
			first = false
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
			if _, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64); err != nil || len(rec) > 1 {
				col["score"] = -1
				for i, h := range rec {
					switch strings.ToLower(strings.TrimSpace(h)) {
					case "score":
						col["score"] = i
					case "stream", "camera", "line":
						col["stream"] = i
					case "name", "path":
						col["name"] = i
					}
				}
				if col["score"] < 0 {
					return nil, fmt.Errorf("%s:%d: header %q has no score column", file, line, strings.Join(rec, ","))
				}
				continue
			}
		}
		get := func(k string) string {
			if i := col[k]; i >= 0 && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		f := get("score")
		s, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: score %q is not a number", file, line, f)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%s:%d: score %q is not finite", file, line, f)
		}
		out = append(out, Point{Stream: get("stream"), Name: get("name"), Score: s})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no scores", file)
	}
	return out, nil
}
