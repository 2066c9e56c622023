package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ad/vigil/dataset"
	_ "github.com/vigil-ad/vigil/detector/pcarecon"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

// The test binary doubles as a worker process: with VIGIL_TEST_WORKER_URL
// set it runs a worker until SIGTERM (or SIGKILL) instead of the tests.
func TestMain(m *testing.M) {
	if url := os.Getenv("VIGIL_TEST_WORKER_URL"); url != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		q, err := Connect(ctx, url, "test-worker", testConfig())
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		w := &Worker{Q: q, ModelsDir: os.Getenv("VIGIL_TEST_WORKER_MODELS"), InFlight: 8}
		w.Run(ctx)
		q.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testConfig: a short ack wait so a killed worker's jobs come back fast,
// and a small inline limit so some images travel through the object store.
func testConfig() Config {
	c := DefaultConfig()
	c.AckWait = 2 * time.Second
	c.InlineMax = 400
	return c
}

// pngBytes is a size x size gray image: a gradient, plus noise on some
// (their PNGs are larger than InlineMax).
func pngBytes(rng *rand.Rand, noisy bool, size int) []byte {
	g := image.NewGray(image.Rect(0, 0, size, size))
	off := rng.IntN(40)
	for y := range size {
		for x := range size {
			v := 80 + off + (3*x+2*y)*24/size
			if noisy {
				v += rng.IntN(60)
			}
			g.SetGray(x, y, color.Gray{Y: uint8(v)})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, g)
	return b.Bytes()
}

// fixture: a fitted pcarecon model in models/tiny.safetensors and n test
// images in imgs/ (plus a poison file when poison is set).
type fixture struct {
	models, imgs string
	model        *pipeline.Model
	files        []string
}

func newFixture(t testing.TB, n int, poison bool) *fixture { return newFixtureSize(t, n, poison, 24) }

func newFixtureSize(t testing.TB, n int, poison bool, size int) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{models: filepath.Join(dir, "models"), imgs: filepath.Join(dir, "imgs")}
	normal := filepath.Join(dir, "normal")
	for _, d := range []string{f.models, f.imgs, normal} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 30 {
		os.WriteFile(filepath.Join(normal, fmt.Sprintf("n%02d.png", i)), pngBytes(rng, i%2 == 0, size), 0o644)
	}
	out := filepath.Join(f.models, "tiny.safetensors")
	_, err := pipeline.Fit(context.Background(), pipeline.FitOptions{Method: "pcarecon",
		Config: json.RawMessage(`{"patch":4,"stride":2,"components":4}`), Data: dataset.Source{Normal: normal},
		DataOptions: dataset.Options{Seed: 1}, Alpha: 0.1, Out: out})
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	if f.model, err = pipeline.LoadModel(out, ""); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p := filepath.Join(f.imgs, fmt.Sprintf("img%04d.png", i))
		os.WriteFile(p, pngBytes(rng, i%3 == 0, size), 0o644)
		f.files = append(f.files, p)
	}
	if poison {
		p := filepath.Join(f.imgs, "poison.png")
		os.WriteFile(p, []byte("this is not an image"), 0o644)
		f.files = append(f.files, p)
	}
	return f
}

// localScore scores a file in this process, as vigil predict would.
func (f *fixture) localScore(t testing.TB, path string) pipeline.ImageResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Decode(bytes.NewReader(b), path, imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := f.model.ScoreImages(context.Background(), []*imageio.Image{img}, false)
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs[0].Err)
	}
	return rs[0]
}

func startServer(t testing.TB, listen, dir string) *server.Server {
	t.Helper()
	s, err := Embedded(listen, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proc is a worker process.
type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startWorker(t testing.TB, url, models string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VIGIL_TEST_WORKER_URL="+url, "VIGIL_TEST_WORKER_MODELS="+models)
	p := &proc{cmd: cmd, out: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker %d output:\n%s", cmd.Process.Pid, p.out)
		}
	})
	return p
}

func countResults(t *testing.T, q *Queue) uint64 {
	info, err := q.Results.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// checkOutcome: every job has exactly one entry; good images score
// exactly as locally; the poison file is an error with the decoder's
// reason; the results stream stored each result once (its sequence
// counts every stored message, replaced ones included).
func checkOutcome(t *testing.T, f *fixture, q *Queue, res *Results, poison bool) {
	t.Helper()
	if res.N != len(f.files) || res.Done != len(f.files) || len(res.Entries) != len(f.files) {
		t.Fatalf("%d jobs, %d done, %d entries; want %d", res.N, res.Done, len(res.Entries), len(f.files))
	}
	seen := map[string]bool{}
	good := 0
	for _, e := range res.Entries {
		if seen[e.JobID] {
			t.Fatalf("job %s twice", e.JobID)
		}
		seen[e.JobID] = true
		if strings.HasSuffix(e.Path, "poison.png") {
			if e.Decision != "error" || !strings.Contains(e.Error, "undecodable") {
				t.Errorf("poison: %+v", e)
			}
			continue
		}
		good++
		r := f.localScore(t, e.Path)
		if e.Score != r.Score || e.PValue != r.PValue || e.Decision != r.Verdict() {
			t.Fatalf("%s: worker score %v p %v %s, local %v p %v %s", e.Path, e.Score, e.PValue, e.Decision, r.Score, r.PValue, r.Verdict())
		}
	}
	ctx := context.Background()
	info, err := q.Results.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(good) || info.State.LastSeq != uint64(good) {
		t.Errorf("results stream: %d messages, last sequence %d; want %d each (one result per job)", info.State.Msgs, info.State.LastSeq, good)
	}
	jobs, _ := q.Jobs.Info(ctx)
	if jobs.State.Msgs != 0 {
		t.Errorf("%d jobs left in the work queue", jobs.State.Msgs)
	}
	dead, _ := q.Dead.Info(ctx)
	if want := map[bool]uint64{true: 1, false: 0}[poison]; dead.State.Msgs != want {
		t.Errorf("%d dead letters, want %d", dead.State.Msgs, want)
	}
}

func freeAddr(s *server.Server) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Addr().(*net.TCPAddr).Port))
}

// TestWorkerKilledAndRestarted: 3 worker processes, 500 jobs and a poison
// one; a worker is SIGKILLed mid-run and another one started. Every job
// ends with exactly one result equal to local scoring, the poison job is
// dead-lettered and did not block the queue, results.json is complete,
// and a re-run submits nothing.
func TestWorkerKilledAndRestarted(t *testing.T) {
	n := 500
	f := newFixture(t, n, true)
	s := startServer(t, "127.0.0.1:0", t.TempDir())
	defer s.Shutdown()
	url := s.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	q, err := Connect(ctx, url, "test", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ws := []*proc{startWorker(t, url, f.models), startWorker(t, url, f.models), startWorker(t, url, f.models)}

	out := filepath.Join(t.TempDir(), "results.json")
	wait := submitInBackground(ctx, t, q, f, out, uint64(n)/4)
	if err := ws[0].cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup, in-flight jobs unacked
		t.Fatal(err)
	}
	ws[0].cmd.Wait()
	t.Logf("killed worker %d after %d results", ws[0].cmd.Process.Pid, countResults(t, q))
	startWorker(t, url, f.models)
	res := wait()
	redelivered := 0
	for _, e := range res.Entries {
		if e.Deliveries > 1 {
			redelivered++
		}
	}
	// the killed worker held up to 8 unacked jobs: they came back to the
	// others (0 only if the kill fell between two of its fetches)
	t.Logf("%d jobs were redelivered after the kill", redelivered)
	objs := countObjects(t, f)
	t.Logf("%d jobs in %.1f s (%d submitted, %d images through the object store)", res.N, res.Seconds, res.Submitted, objs)
	if objs == 0 || objs == len(f.files) {
		t.Errorf("%d of %d images above the inline limit: both paths must be exercised", objs, len(f.files))
	}
	checkOutcome(t, f, q, res, true)

	again, err := Submit(ctx, q, SubmitOptions{Model: "tiny", Paths: []string{f.imgs}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if again.Submitted != 0 || again.Resumed != len(f.files) || again.Done != len(f.files) {
		t.Errorf("re-run: %d submitted, %d resumed, %d done", again.Submitted, again.Resumed, again.Done)
	}
}

func countObjects(t *testing.T, f *fixture) int {
	c := testConfig()
	k := 0
	for _, p := range f.files {
		st, _ := os.Stat(p)
		if st.Size() > int64(c.InlineMax) {
			k++
		}
	}
	return k
}

// TestServerRestart: the NATS server (file storage) is shut down and
// restarted on the same port and directory mid-run; workers and the
// submitter reconnect and nothing is lost or duplicated. Then results.json
// loses entries and a re-run finds their results in the stream without
// resubmitting.
func TestServerRestart(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 100
	}
	f := newFixture(t, n, false)
	dir := t.TempDir()
	s := startServer(t, "127.0.0.1:0", dir)
	addr := freeAddr(s)
	url := s.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	q, err := Connect(ctx, url, "test", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	startWorker(t, url, f.models)
	startWorker(t, url, f.models)
	out := filepath.Join(t.TempDir(), "results.json")
	wait := submitInBackground(ctx, t, q, f, out, uint64(n)/3)
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(300 * time.Millisecond)
	s = startServer(t, addr, dir)
	defer s.Shutdown()
	t.Logf("server restarted with %d results stored", countResults(t, q))
	res := wait()
	checkOutcome(t, f, q, res, false)

	// drop 10 entries: the re-run must find them in the results stream
	var rf Results
	b, _ := os.ReadFile(out)
	json.Unmarshal(b, &rf)
	rf.Entries = rf.Entries[10:]
	b, _ = json.Marshal(rf)
	os.WriteFile(out, b, 0o644)
	again, err := Submit(ctx, q, SubmitOptions{Model: "tiny", Paths: []string{f.imgs}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if again.Submitted != 0 || again.Resumed != n-10 || again.Done != n {
		t.Errorf("re-run: %d submitted, %d resumed, %d done", again.Submitted, again.Resumed, again.Done)
	}
}

// TestClientScore: the service path: one image through the queue equals
// local scoring; an unknown model comes back as a dead letter.
func TestClientScore(t *testing.T) {
	f := newFixture(t, 2, false)
	s := startServer(t, "127.0.0.1:0", t.TempDir())
	defer s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := Connect(ctx, s.ClientURL(), "test", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// the worker runs in this process: scoring is the same either way
	wctx, wstop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		(&Worker{Q: q, ModelsDir: f.models}).Run(wctx)
		close(done)
	}()
	defer func() { wstop(); <-done }()
	// a live follower sees each result once, in order
	var mu sync.Mutex
	var followed []*Result
	fctx, fstop := context.WithCancel(ctx)
	fdone := make(chan error, 1)
	go func() {
		fdone <- FollowResults(fctx, q, true, func(r *Result) {
			mu.Lock()
			followed = append(followed, r)
			mu.Unlock()
		})
	}()
	c := &Client{Q: q}
	var scored []*Result
	for _, p := range f.files {
		b, _ := os.ReadFile(p)
		r, err := c.Score(ctx, "tiny", b)
		if err != nil {
			t.Fatal(err)
		}
		if l := f.localScore(t, p); r.Score != l.Score || r.PValue != l.PValue {
			t.Errorf("%s: queue score %v, local %v", p, r.Score, l.Score)
		}
		scored = append(scored, r)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(followed)
		mu.Unlock()
		if n >= len(scored) || time.Now().After(deadline) {
			break
		}
	}
	fstop()
	if err := <-fdone; err != context.Canceled {
		t.Errorf("FollowResults ended with %v", err)
	}
	if len(followed) != len(scored) {
		t.Fatalf("followed %d results, scored %d", len(followed), len(scored))
	}
	for i := range scored {
		if followed[i].JobID != scored[i].JobID || followed[i].Score != scored[i].Score {
			t.Errorf("followed %+v, scored %+v", followed[i], scored[i])
		}
	}
	b, _ := os.ReadFile(f.files[0])
	if _, err := c.Score(ctx, "nosuchmodel", b); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("unknown model: %v", err)
	}
	// a link to a model outside the folder is refused, as the server does
	outside := filepath.Join(t.TempDir(), "elsewhere.safetensors")
	if m, err := os.ReadFile(filepath.Join(f.models, "tiny.safetensors")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(outside, m, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.models, "linked.safetensors")); err != nil {
		t.Logf("no symbolic links here (%v): the outside-the-folder check is covered by pipeline's TestModelFolder only", err)
	} else if _, err := c.Score(ctx, "linked", b); err == nil || !strings.Contains(err.Error(), "outside the models folder") {
		t.Errorf("model linked from outside the folder: %v", err)
	}
}

// submitInBackground submits the fixture's images and returns once the
// results stream holds at least atLeast results (or ctx ends), so the
// caller can disturb the run midway; wait returns the Submit's results,
// failing the test (after dumping the queue's state) on an error.
func submitInBackground(ctx context.Context, t *testing.T, q *Queue, f *fixture, out string, atLeast uint64) (wait func() *Results) {
	var res *Results
	var serr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, serr = Submit(ctx, q, SubmitOptions{Model: "tiny", Paths: []string{f.imgs}, Out: out})
	}()
	for countResults(t, q) < atLeast && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return func() *Results {
		<-done
		if serr != nil {
			dumpState(t, q)
			t.Fatal(serr)
		}
		return res
	}
}

// dumpState logs the streams and the consumer (after a failure).
func dumpState(t *testing.T, q *Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Logf("client: %v %s", q.NC.Status(), q.NC.ConnectedUrl())
	if _, err := q.JS.AccountInfo(ctx); err != nil {
		t.Logf("account info: %v", err)
	}
	for _, s := range []jetstream.Stream{q.Jobs, q.Results, q.Dead} {
		if info, err := s.Info(ctx); err == nil {
			t.Logf("%s: %+v", info.Config.Name, info.State)
		} else {
			t.Log(err)
		}
	}
	if c, err := q.JS.Consumer(ctx, JobsStream, ConsumerName); err == nil {
		info, err := c.Info(ctx)
		if err == nil {
			t.Logf("consumer: delivered %+v ackfloor %+v pending %d ackpending %d redelivered %d waiting %d", info.Delivered, info.AckFloor, info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting)
		}
	} else {
		t.Log(err)
	}
}

// TestMaxDeliver: a job whose holder dies without acking (here: fetched
// and dropped) comes back; on its last delivery it is dead-lettered with
// the reason instead of staying in the queue, and the next job is scored.
func TestMaxDeliver(t *testing.T) {
	f := newFixture(t, 1, false)
	s := startServer(t, "127.0.0.1:0", t.TempDir())
	defer s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig()
	cfg.AckWait, cfg.MaxDeliver = 500*time.Millisecond, 2
	q, err := Connect(ctx, s.ClientURL(), "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	img := mustRead(t, f.files[0])
	if err := q.Enqueue(ctx, Job{ID: "crasher", Model: "tiny", Image: img}); err != nil {
		t.Fatal(err)
	}
	cons, err := q.JS.Consumer(ctx, JobsStream, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() { // held, never acked: a worker that died on it
	}
	if err := q.Enqueue(ctx, Job{ID: "next", Model: "tiny", Image: img}); err != nil {
		t.Fatal(err)
	}
	wctx, wstop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		(&Worker{Q: q, ModelsDir: f.models}).Run(wctx)
		close(done)
	}()
	defer func() { wstop(); <-done }()
	var dead, next *Outcome
	for ctx.Err() == nil && (dead == nil || next == nil) {
		dead, _ = q.Lookup(ctx, "crasher")
		next, _ = q.Lookup(ctx, "next")
		time.Sleep(50 * time.Millisecond)
	}
	if dead == nil || dead.Dead == nil || dead.Dead.Deliveries != 2 || !strings.Contains(dead.Dead.Reason, "handed out 2 times") {
		t.Fatalf("crasher: %+v", dead)
	}
	if next == nil || next.Result == nil || next.Result.Score != f.localScore(t, f.files[0]).Score {
		t.Fatalf("next: %+v", next)
	}
	if info, _ := q.Jobs.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("%d jobs left in the queue", info.State.Msgs)
	}
}
