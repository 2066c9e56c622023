package pipeline

// Progress receives the progress of long steps ("decoding", "fitting",
// "calibrating", "scoring"). Implementations must be safe for use from
// several goroutines.
type Progress interface {
	// Begin starts a step of total units (0 when unknown).
	Begin(step string, total int)
	// Set reports done of total units of the current step.
	Set(done, total int)
	// End finishes the current step.
	End()
}

type noProgress struct{}

func (noProgress) Begin(string, int) {}
func (noProgress) Set(int, int)      {}
func (noProgress) End()              {}

func progressOr(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}
