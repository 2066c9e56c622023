package tensor

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelCoversRangeOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1001} {
		hits := make([]int32, n)
		Parallel(n, func(lo, hi int) {
			if lo >= hi {
				t.Errorf("empty chunk [%d,%d)", lo, hi)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, h)
			}
		}
	}
}

func TestParallelNestedAndConcurrent(t *testing.T) {
	// Nested and concurrent calls must finish (no deadlock) and stay exact.
	var total atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			Parallel(8, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					Parallel(50, func(a, b int) { total.Add(int64(b - a)) })
				}
			})
		}()
	}
	wg.Wait()
	if got := total.Load(); got != 4*8*50 {
		t.Fatalf("total %d, want %d", got, 4*8*50)
	}
}

func TestParallelChunksGrain(t *testing.T) {
	var sum atomic.Int64
	ParallelChunks(103, 10, func(lo, hi int) {
		if hi-lo < 1 {
			t.Errorf("empty chunk")
		}
		for i := lo; i < hi; i++ {
			sum.Add(int64(i))
		}
	})
	if sum.Load() != 103*102/2 {
		t.Fatalf("sum %d", sum.Load())
	}
}

func TestGetPutReuse(t *testing.T) {
	b := Get(1000)
	if len(b) != 1000 || cap(b) != 1024 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	for i := range b {
		b[i] = 7
	}
	Put(b)
	c := Get(900)
	if len(c) != 900 {
		t.Fatalf("len %d", len(c))
	}
	for i, v := range c {
		if v != 0 {
			t.Fatalf("Get not zeroed at %d: %v", i, v)
		}
	}
	Put(c)
	// Once warm, Get/Put do not allocate.
	allocs := testing.AllocsPerRun(100, func() { Put(GetDirty(5000)) })
	if allocs != 0 {
		t.Fatalf("Get/Put allocate %v per run", allocs)
	}
	// An odd-capacity buffer serves the class below its capacity.
	Put(make([]float32, 3000))
	d := GetDirty(2048)
	if cap(d) < 2048 {
		t.Fatalf("cap %d", cap(d))
	}
}

func TestReshapeCloneFill(t *testing.T) {
	x := New(2, 3, 4)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	v := x.Reshape(6, -1)
	if v.Shape[0] != 6 || v.Shape[1] != 4 {
		t.Fatalf("shape %v", v.Shape)
	}
	v.Data[5] = 100
	if x.Data[5] != 100 {
		t.Fatal("Reshape is not a view")
	}
	c := x.Clone()
	c.Data[0] = -1
	c.Shape[0] = 9
	if x.Data[0] != 0 || x.Shape[0] != 2 {
		t.Fatal("Clone shares storage")
	}
	x.Fill(2.5)
	for _, e := range x.Data {
		if e != 2.5 {
			t.Fatal("Fill")
		}
	}
	mustPanic(t, func() { x.Reshape(5, -1) })
	mustPanic(t, func() { x.Reshape(-1, -1) })
	mustPanic(t, func() { x.Reshape(7) })
	mustPanic(t, func() { MustSameShape("op", New(2, 3), New(3, 2)) })
	mustPanic(t, func() { New(2, 3).Dims4("op") })
	n, ch, h, w := New(1, 2, 3, 4).Dims4("op")
	if n != 1 || ch != 2 || h != 3 || w != 4 {
		t.Fatal("Dims4")
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("expected panic")
		}
	}()
	f()
}
