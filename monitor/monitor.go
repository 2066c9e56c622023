package monitor

import (
	"fmt"
	"sort"
)

// Alarm is one CUSUM crossing on a stream.
type Alarm struct {
	Stream string `json:"stream"`
	// Index is the position of the alarming score in its stream (0-based).
	Index int     `json:"index"`
	Name  string  `json:"name,omitempty"` // the image or row that raised it, when known
	Score float64 `json:"score"`
	// RunLength is the number of images since the previous alarm (or the
	// start), this one included.
	RunLength int     `json:"run_length"`
	Statistic float64 `json:"statistic"` // S before the restart
}

// StreamSummary is one stream's outcome.
type StreamSummary struct {
	Stream string `json:"stream"`
	N      int    `json:"n"`
	Alarms int    `json:"alarms"`
	// ObservedARL0 is the mean run length between alarms (restarting after
	// each); null without an alarm. On an in-control stream it estimates
	// the ARL0 actually achieved.
	ObservedARL0 *float64 `json:"observed_arl0"`
	// Censored is the run in progress at the end (images since the last
	// alarm): without alarms, N is a lower bound on the run length.
	Censored  int     `json:"censored"`
	Statistic float64 `json:"statistic"`
}

// Monitor runs one calibrated CUSUM per stream.
type Monitor struct {
	proto   *CUSUM
	streams map[string]*streamState
	// OnAlarm, when set, is called for every alarm as it happens (NATS,
	// Prometheus, a log line).
	OnAlarm func(Alarm)
}

type streamState struct {
	c    *CUSUM
	n    int
	runs []int
}

// NewMonitor monitors any number of streams with copies of c.
func NewMonitor(c *CUSUM) *Monitor {
	return &Monitor{proto: c, streams: map[string]*streamState{}}
}

// Observe feeds one score of a stream; name identifies the image in the
// alarm. It returns the alarm, if any.
func (m *Monitor) Observe(stream, name string, score float64) (*Alarm, error) {
	st := m.streams[stream]
	if st == nil {
		st = &streamState{c: m.proto.Clone()}
		m.streams[stream] = st
	}
	idx := st.n
	alarm, rl, err := st.c.Update(score)
	if err != nil {
		return nil, fmt.Errorf("stream %q, score %d (%s): %w", stream, idx, name, err)
	}
	st.n++
	if !alarm {
		return nil, nil
	}
	st.runs = append(st.runs, rl)
	a := &Alarm{Stream: stream, Index: idx, Name: name, Score: score, RunLength: rl,
		Statistic: st.c.Last()}
	if m.OnAlarm != nil {
		m.OnAlarm(*a)
	}
	return a, nil
}

// Summary lists the streams in name order.
func (m *Monitor) Summary() []StreamSummary {
	names := make([]string, 0, len(m.streams))
	for n := range m.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]StreamSummary, 0, len(names))
	for _, n := range names {
		st := m.streams[n]
		s := StreamSummary{Stream: n, N: st.n, Alarms: len(st.runs), Censored: st.c.run, Statistic: st.c.s}
		if len(st.runs) > 0 {
			v := MeanRunLength(st.runs)
			s.ObservedARL0 = &v
		}
		out = append(out, s)
	}
	return out
}

// ObservedARL0 is the mean run length between alarms over all streams
// (every completed run counts once); nil before the first alarm.
func (m *Monitor) ObservedARL0() *float64 {
	var runs []int
	for _, st := range m.streams {
		runs = append(runs, st.runs...)
	}
	if len(runs) == 0 {
		return nil
	}
	v := MeanRunLength(runs)
	return &v
}

// MeanRunLength is the mean of completed run lengths (0 for none).
func MeanRunLength(runs []int) float64 {
	if len(runs) == 0 {
		return 0
	}
	t := 0
	for _, r := range runs {
		t += r
	}
	return float64(t) / float64(len(runs))
}
