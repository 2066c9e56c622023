package tensor

import (
	"math/bits"
	"sync"
)

// Buffers are kept in power-of-two size classes; each class is a small
// mutex-guarded stack so Get/Put never allocate once warm (sync.Pool would
// box the slice header on every Put).
const (
	numClasses  = 48
	maxPerClass = 32
)

type bufClass struct {
	mu   sync.Mutex
	free [][]float32
}

var bufClasses [numClasses]bufClass

func classOf(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1)) // smallest c with 1<<c >= n
}

// Get returns a zeroed slice of length n, reusing a buffer returned by Put
// when one of the right size class is available.
func Get(n int) []float32 {
	b := GetDirty(n)
	clear(b)
	return b
}

// GetDirty is Get without zeroing: the contents are arbitrary. Use it for
// scratch space that is fully overwritten.
func GetDirty(n int) []float32 {
	if n < 0 {
		panic("tensor.Get: negative size")
	}
	c := classOf(n)
	if c >= numClasses {
		return make([]float32, n)
	}
	bc := &bufClasses[c]
	bc.mu.Lock()
	if k := len(bc.free); k > 0 {
		b := bc.free[k-1]
		bc.free[k-1] = nil
		bc.free = bc.free[:k-1]
		bc.mu.Unlock()
		return b[:n]
	}
	bc.mu.Unlock()
	return make([]float32, n, 1<<c)
}

// Put returns a buffer for reuse by Get. The caller must not use it
// afterwards. Buffers of any capacity are accepted (they serve the largest
// class that fits); nil and tiny buffers are dropped.
func Put(b []float32) {
	cp := cap(b)
	if cp < 16 {
		return
	}
	c := bits.Len(uint(cp)) - 1 // largest c with 1<<c <= cap
	if c >= numClasses {
		return
	}
	bc := &bufClasses[c]
	bc.mu.Lock()
	if len(bc.free) < maxPerClass {
		bc.free = append(bc.free, b[:1<<c])
	}
	bc.mu.Unlock()
}
