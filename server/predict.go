package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

// PredictResponse is the body of a successful POST /v1/models/{name}:predict.
type PredictResponse struct {
	Model     string         `json:"model"`
	Method    string         `json:"method"`
	Threshold float64        `json:"threshold"`
	Alpha     float64        `json:"alpha"`
	Results   []ImageOutcome `json:"results"`
}

// ImageOutcome is one image's result. A failed image has decision
// "error", a null score and p-value and an error message: never "normal".
type ImageOutcome struct {
	Name      string   `json:"name"`
	Width     int      `json:"width"`
	Height    int      `json:"height"`
	Score     *float64 `json:"score"`
	PValue    *float64 `json:"p_value"`
	Decision  string   `json:"decision"`
	Threshold float64  `json:"threshold"`
	Error     string   `json:"error,omitempty"`
	Map       *MapOut  `json:"map"` // null: the method has no map, the image failed, or map=none
	// MapNote says why Map is null when the server could have sent one
	// (scoring through the worker queue returns no maps).
	MapNote string `json:"map_note,omitempty"`
}

// MapOut is an anomaly map as a 16-bit gray PNG at the image's resolution:
// a pixel's map value is Range[0] + (Range[1]-Range[0])·gray/65535
// (values outside Range are clamped to it).
type MapOut struct {
	Encoding string     `json:"encoding"` // "png-gray16"
	Range    [2]float64 `json:"range"`
	// Scale is "model" when Range is the model's calibrated colour scale
	// (maps of different images compare), "image" when it is this map's
	// own minimum and maximum (the model has no pixel calibration).
	Scale          string     `json:"scale"`
	PixelThreshold *float64   `json:"pixel_threshold"`
	PNG            string     `json:"png,omitempty"` // base64, with map=inline
	URL            string     `json:"url,omitempty"` // with map=url, valid until ExpiresAt
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// upload is one image of a request, still encoded.
type upload struct {
	name string
	data []byte
}

// httpError is a refusal with its status and stable code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func refuse(status int, code, format string, a ...any) *httpError {
	return &httpError{status, code, fmt.Sprintf(format, a...)}
}

// modelAction serves GET /v1/models/{name} and POST /v1/models/{name}:predict.
func (s *Server) modelAction(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	name, action, hasAction := strings.Cut(rest, ":")
	switch {
	case hasAction && action != "predict":
		writeError(w, http.StatusNotFound, "not_found", "unknown action %q (the only action is :predict)", action)
		return
	case hasAction && r.Method != http.MethodPost:
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on :predict (use POST)", r.Method)
		return
	case !hasAction && r.Method != http.MethodGet:
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on a model (GET it, or POST to %s:predict)", r.Method, r.URL.Path)
		return
	}
	e, herr := s.lookup(name)
	if herr != nil {
		s.fail(w, herr)
		return
	}
	setModelLabel(r, e.info.Name)
	if !hasAction {
		info := e.info
		info.ReloadError = s.reg.errorOf(name)
		writeJSON(w, http.StatusOK, info)
		return
	}
	s.predict(w, r, e)
}

func (s *Server) lookup(name string) (*entry, *httpError) {
	if !pipeline.ValidModelName(name) {
		return nil, refuse(http.StatusNotFound, "unknown_model", "%q is not a valid model name", name)
	}
	if !s.reg.ready.Load() {
		if e, ok := s.reg.get(name); ok {
			return e, nil
		}
		return nil, refuse(http.StatusServiceUnavailable, "loading", "models are loading; retry shortly")
	}
	e, ok := s.reg.get(name)
	if !ok {
		names := []string{}
		for _, m := range s.reg.list() {
			names = append(names, m.Name)
		}
		if len(names) > 20 {
			names = append(names[:20], "...")
		}
		return nil, refuse(http.StatusNotFound, "unknown_model", "no model named %q (models: %s)", name, strings.Join(names, ", "))
	}
	return e, nil
}

func (s *Server) fail(w http.ResponseWriter, e *httpError) {
	switch e.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge:
		s.met.rejected.WithLabelValues(e.code).Inc()
	}
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.status, e.code, "%s", e.msg)
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, e *entry) {
	mapMode := r.URL.Query().Get("map")
	if mapMode == "" {
		mapMode = "inline"
	}
	if !slices.Contains([]string{"inline", "url", "none"}, mapMode) {
		s.fail(w, refuse(http.StatusBadRequest, "bad_request", "map=%q: use inline, url or none", mapMode))
		return
	}
	if !s.pool.tryAdmit() {
		w.Header().Set("Retry-After", strconv.Itoa(s.pool.retryAfter()))
		s.fail(w, refuse(http.StatusTooManyRequests, "overloaded", "the server is at capacity (%d scoring, %d queued); retry later",
			s.cfg.Workers, s.cfg.Queue))
		return
	}
	defer s.pool.release()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()

	ups, herr := s.readImages(w, r)
	if herr != nil {
		s.fail(w, herr)
		return
	}
	if s.cfg.Remote != nil {
		sizes := make([][2]int, len(ups))
		for i, u := range ups {
			wd, ht, _, herr := s.header(u)
			if herr != nil {
				s.fail(w, herr)
				return
			}
			sizes[i] = [2]int{wd, ht}
		}
		s.predictRemote(ctx, w, r, e, ups, sizes, mapMode)
		return
	}
	imgs := make([]*imageio.Image, len(ups))
	for i, u := range ups {
		if imgs[i], herr = s.decode(u); herr != nil {
			s.fail(w, herr)
			return
		}
		ups[i].data = nil
	}
	if err := s.pool.acquire(ctx); err != nil {
		s.deadline(w, r, err)
		return
	}
	rs, err := s.score(ctx, e, imgs)
	if err != nil {
		s.deadline(w, r, err)
		return
	}
	out := PredictResponse{Model: e.info.Name, Method: e.info.Method, Threshold: e.info.Threshold, Alpha: e.info.Alpha}
	for i := range rs {
		out.Results = append(out.Results, s.outcome(e, ups[i].name, &rs[i], mapMode))
		rs[i] = pipeline.ImageResult{}
	}
	writeJSON(w, http.StatusOK, out)
}

// score runs the model on a worker acquired by the caller and frees the
// worker however scoring ends (a panicking detector included).
func (s *Server) score(ctx context.Context, e *entry, imgs []*imageio.Image) ([]pipeline.ImageResult, error) {
	t0 := time.Now()
	defer func() { s.pool.done(time.Since(t0)) }()
	return e.model.ScoreImages(ctx, imgs, false)
}

// deadline answers a request whose context ended: 504 when its deadline
// passed; nothing when the client went away.
func (s *Server) deadline(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // client gone: nobody to answer
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.met.rejected.WithLabelValues("deadline_exceeded").Inc()
		writeError(w, http.StatusGatewayTimeout, "deadline_exceeded", "scoring did not finish within %s", s.cfg.Timeout)
		return
	}
	s.log.Error("scoring failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "scoring failed")
}

// outcome turns a pipeline result into the response's form and counts it.
func (s *Server) outcome(e *entry, name string, r *pipeline.ImageResult, mapMode string) ImageOutcome {
	o := ImageOutcome{Name: name, Decision: r.Verdict(), Threshold: e.info.Threshold}
	if r.Image != nil {
		o.Width, o.Height = r.Image.W, r.Image.H
	}
	if o.Decision == "error" {
		if r.Err != nil {
			o.Error = r.Err.Error()
		} else {
			o.Error = fmt.Sprintf("score is %v", r.Score)
		}
		s.count(e.info.Name, &o)
		return o
	}
	score, p := r.Score, r.PValue
	o.Score, o.PValue = &score, &p
	s.count(e.info.Name, &o)
	if r.Map != nil && mapMode != "none" {
		mo, png := encodeMap(r.Map, e.info.MapRange, e.info.PixelThreshold)
		if mapMode == "inline" {
			mo.PNG = base64.StdEncoding.EncodeToString(png)
		} else {
			id, exp := s.maps.put(png)
			mo.URL, mo.ExpiresAt = "/v1/maps/"+id, &exp
		}
		o.Map = mo
	}
	return o
}

// count adds an image's outcome to the metrics.
func (s *Server) count(model string, o *ImageOutcome) {
	s.met.images.WithLabelValues(model).Inc()
	s.met.decisions.WithLabelValues(model, o.Decision).Inc()
	if o.Score != nil {
		s.met.scores.WithLabelValues(model).Observe(*o.Score)
		s.met.pvalues.WithLabelValues(model).Observe(*o.PValue)
	}
}

// readImages reads the request's images: the raw body as one image, or
// every file part of a multipart/form-data body. The body is limited to
// MaxBytes as it is read.
func (s *Server) readImages(w http.ResponseWriter, r *http.Request) ([]upload, *httpError) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBytes)
	tooLarge := func(err error) *httpError {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return refuse(http.StatusRequestEntityTooLarge, "too_large", "the request is larger than the limit of %d bytes", s.cfg.MaxBytes)
		}
		return refuse(http.StatusBadRequest, "bad_request", "reading the request body: %v", err)
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt != "multipart/form-data" {
		// any other type is taken as the image bytes (the format is read
		// from the data): curl --data-binary sends a form type
		if strings.HasPrefix(mt, "multipart/") {
			return nil, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type",
				"Content-Type %s: send the image bytes as the body, or multipart/form-data with file parts", mt)
		}
		if r.ContentLength > s.cfg.MaxBytes {
			return nil, tooLarge(&http.MaxBytesError{Limit: s.cfg.MaxBytes})
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, tooLarge(err)
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "body"
		}
		return []upload{{name: name, data: b}}, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_request", "multipart body: %v", err)
	}
	var ups []upload
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, tooLarge(err)
		}
		if part.FileName() == "" {
			part.Close()
			return nil, refuse(http.StatusBadRequest, "bad_request", "form field %q is not a file: send images as file parts", part.FormName())
		}
		if len(ups) == s.cfg.MaxImages {
			part.Close()
			return nil, refuse(http.StatusRequestEntityTooLarge, "too_many_images", "more than %d images in one request", s.cfg.MaxImages)
		}
		b, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			return nil, tooLarge(err)
		}
		ups = append(ups, upload{name: part.FileName(), data: b})
	}
	if len(ups) == 0 {
		return nil, refuse(http.StatusBadRequest, "bad_image", "the multipart body holds no file")
	}
	return ups, nil
}

// decode checks the image's header (format, size, pixel limit) before it
// decodes the pixels, so an oversized image costs no memory.
func (s *Server) decode(u upload) (*imageio.Image, *httpError) {
	_, _, format, herr := s.header(u)
	if herr != nil {
		return nil, herr
	}
	img, err := imageio.Decode(bytes.NewReader(u.data), u.name, imageio.Options{MaxPixels: s.cfg.MaxPixels})
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_image", "image %q (%s): %v", u.name, format, strings.TrimPrefix(err.Error(), "imageio: "))
	}
	return img, nil
}

// header reads the image's size and format from its header and applies
// the pixel limit.
func (s *Server) header(u upload) (w, h int, format string, herr *httpError) {
	if len(u.data) == 0 {
		return 0, 0, "", refuse(http.StatusBadRequest, "bad_image", "image %q is empty", u.name)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(u.data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return 0, 0, "", refuse(http.StatusBadRequest, "bad_image", "image %q: unknown or unsupported image format (PNG, JPEG, GIF, BMP, TIFF, WebP)", u.name)
		}
		return 0, 0, "", refuse(http.StatusBadRequest, "bad_image", "image %q: bad header: %v", u.name, err)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > int64(s.cfg.MaxPixels) {
		return 0, 0, "", refuse(http.StatusRequestEntityTooLarge, "too_many_pixels", "image %q is %dx%d (%d pixels), more than the limit of %d",
			u.name, cfg.Width, cfg.Height, n, s.cfg.MaxPixels)
	}
	return cfg.Width, cfg.Height, format, nil
}
