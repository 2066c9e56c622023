package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/png"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-ad/vigil/imageio"
)

// encodeMap writes an anomaly map as a 16-bit gray PNG on the model's
// colour scale (scaleRange) or, without one, on the map's own range, and
// returns its description and the PNG.
func encodeMap(m *imageio.Map, scaleRange *[2]float64, pixelThreshold *float64) (*MapOut, []byte) {
	mo := &MapOut{Encoding: "png-gray16", PixelThreshold: pixelThreshold}
	if scaleRange != nil {
		mo.Range, mo.Scale = *scaleRange, "model"
	} else {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range m.Pix {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		mo.Range, mo.Scale = [2]float64{lo, hi}, "image"
	}
	g := image.NewGray16(image.Rect(0, 0, m.W, m.H))
	lo, span := mo.Range[0], mo.Range[1]-mo.Range[0]
	for i, v := range m.Pix {
		q := 0.0
		if span > 0 {
			q = math.Round((float64(v) - lo) / span * 65535)
		}
		q = min(65535, max(0, q))
		g.Pix[2*i], g.Pix[2*i+1] = uint8(uint16(q)>>8), uint8(q)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, g); err != nil {
		// writing to memory cannot fail for a valid image
		panic(err)
	}
	return mo, buf.Bytes()
}

// mapStore keeps maps fetched by URL for a short time, bounded in bytes
// (the oldest go first).
type mapStore struct {
	ttl      time.Duration
	maxBytes int
	mu       sync.Mutex
	items    map[string]storedMap
	order    []string // insertion order, for eviction
	bytes    int
}

type storedMap struct {
	png     []byte
	expires time.Time
}

func newMapStore(ttl time.Duration, maxBytes int) *mapStore {
	return &mapStore{ttl: ttl, maxBytes: maxBytes, items: map[string]storedMap{}}
}

// put stores a PNG and returns its unguessable id and expiry.
func (s *mapStore) put(b []byte) (string, time.Time) {
	var raw [16]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	now := time.Now()
	exp := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[id] = storedMap{png: b, expires: exp}
	s.order = append(s.order, id)
	s.bytes += len(b)
	// drop expired ones and, over the byte bound, the oldest
	for len(s.order) > 0 {
		old, ok := s.items[s.order[0]]
		if ok && s.bytes <= s.maxBytes && now.Before(old.expires) {
			break
		}
		if ok {
			s.bytes -= len(old.png)
			delete(s.items, s.order[0])
		}
		s.order = s.order[1:]
	}
	return id, exp
}

func (s *mapStore) get(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[id]
	if !ok || !time.Now().Before(it.expires) {
		return nil, false
	}
	return it.png, true
}

func (s *Server) getMap(w http.ResponseWriter, r *http.Request) {
	b, ok := s.maps.get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "map_expired", "no such map: map URLs live %s", s.cfg.MapTTL)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Write(b)
}
