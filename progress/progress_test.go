package progress

import (
	"context"
	"testing"
)

func TestReportReachesListener(t *testing.T) {
	var got [][2]int
	ctx := With(context.Background(), func(d, n int) { got = append(got, [2]int{d, n}) })
	Report(ctx, 3, 10)
	Report(ctx, 10, 10)
	if len(got) != 2 || got[0] != [2]int{3, 10} || got[1] != [2]int{10, 10} {
		t.Fatalf("got %v", got)
	}
	Report(context.Background(), 1, 2) // no listener: no effect, no panic
}
