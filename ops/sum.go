package ops

// sumFloats returns the sum of v in a fixed order: eight interleaved
// partial sums (independent add chains, so the loop runs at load speed
// instead of one add latency per element) combined pairwise, then the tail.
func sumFloats(v []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(v); i += 8 {
		b := v[i : i+8 : i+8]
		s0 += b[0]
		s1 += b[1]
		s2 += b[2]
		s3 += b[3]
		s4 += b[4]
		s5 += b[5]
		s6 += b[6]
		s7 += b[7]
	}
	s := ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
	for _, e := range v[i:] {
		s += e
	}
	return s
}
