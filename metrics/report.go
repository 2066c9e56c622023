package metrics

// Report is the image-level evaluation summary, shaped for JSON output.
type Report struct {
	AUROC            float64 `json:"auroc"`
	AP               float64 `json:"ap"`
	F1Max            float64 `json:"f1_max"`
	F1MaxThreshold   float64 `json:"f1_max_threshold"`
	ClosestThreshold float64 `json:"closest_threshold"`
	YoudenJ          float64 `json:"youden_j"`
	YoudenThreshold  float64 `json:"youden_threshold"`
	NNormal          int     `json:"n_normal"`
	NAnomalous       int     `json:"n_anomalous"`
	// Confusion is present only when asked for with WithConfusion.
	Confusion *ConfusionReport `json:"confusion,omitempty"`
}

// ConfusionReport is the confusion matrix at one threshold with its
// derived rates (0/0 rates are 0, see Counts).
type ConfusionReport struct {
	Threshold float64 `json:"threshold"`
	Counts
	TPR       float64 `json:"tpr"`
	FPR       float64 `json:"fpr"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Accuracy  float64 `json:"accuracy"`
}

// NewConfusionReport evaluates "anomalous iff score >= threshold".
func NewConfusionReport(scores []float64, labels []int, threshold float64) ConfusionReport {
	c := Confusion(scores, labels, threshold)
	return ConfusionReport{
		Threshold: threshold, Counts: c,
		TPR: c.TPR(), FPR: c.FPR(), Precision: c.Precision(), Recall: c.Recall(),
		F1: c.F1(), Accuracy: c.Accuracy(),
	}
}

// ImageMetrics computes the image-level report. It fails on invalid input
// (see Check) or when either class is empty.
func ImageMetrics(scores []float64, labels []int) (Report, error) {
	var r Report
	var err error
	if r.AUROC, err = AUROC(scores, labels); err != nil {
		return Report{}, err
	}
	if r.AP, err = AveragePrecision(scores, labels); err != nil {
		return Report{}, err
	}
	r.F1Max, r.F1MaxThreshold = F1Max(scores, labels)
	_, r.ClosestThreshold = ClosestToCorner(scores, labels)
	r.YoudenJ, r.YoudenThreshold = YoudenJ(scores, labels)
	for _, l := range labels {
		if l == 1 {
			r.NAnomalous++
		} else {
			r.NNormal++
		}
	}
	return r, nil
}

// WithConfusion returns a copy of r carrying the confusion matrix of
// scores/labels at threshold.
func (r Report) WithConfusion(scores []float64, labels []int, threshold float64) Report {
	c := NewConfusionReport(scores, labels, threshold)
	r.Confusion = &c
	return r
}
