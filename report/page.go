package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"image"
	"math"
	"sort"
	"strconv"
	"strings"
)

// metricNames are the page's words for the metric keys the tools write;
// their order is the table's default order. Unknown keys are shown as is.
var metricNames = []struct{ key, name string }{
	{"method", "Method"},
	{"image_auroc", "Image AUROC"},
	{"image_ap", "Image average precision"},
	{"image_f1_max", "Best image F1 over all thresholds"},
	{"pixel_auroc", "Pixel AUROC"},
	{"pixel_auroc_error_bound", "Pixel AUROC error bound (streaming estimate)"},
	{"aupro", "AUPRO (FPR ≤ 0.3)"},
	{"aupro_error_bound", "AUPRO error bound (streaming estimate)"},
	{"auspro", "AUsPRO (MVTec LOCO, FPR ≤ 0.05)"},
	{"pixel_aupro", "AUPRO (FPR ≤ 0.3)"},
	{"test_fpr", "False-positive rate on normal test images"},
	{"test_tpr", "Detection rate on anomalous test images"},
	{"test_precision", "Precision of the anomalous decisions"},
	{"n_normal", "Normal test images"},
	{"n_anomalous", "Anomalous test images"},
	{"n_errors", "Images that failed"},
	{"seconds", "Evaluation time (s)"},
	{"ms_per_image", "Time per image (ms)"},
}

// thresholdKeys are shown in the one threshold row, not as metrics.
var thresholdKeys = map[string]bool{"threshold": true, "threshold_rule": true, "rule": true, "target_fpr": true}

func metricName(key string) string {
	for _, m := range metricNames {
		if m.key == key {
			return m.name
		}
	}
	return key
}

func metricRank(key string) int {
	for i, m := range metricNames {
		if m.key == key {
			return i
		}
	}
	return len(metricNames)
}

// metricRow is one line of the metrics table.
type metricRow struct{ Name, Key, Value string }

// metricTable orders the metrics (order first, then the known keys in
// metricNames' order, then the rest sorted) and formats their values.
func metricTable(m map[string]any, order []string) []metricRow {
	done := map[string]bool{}
	var rows []metricRow
	add := func(k string) {
		if v, ok := m[k]; ok && !done[k] && !thresholdKeys[k] {
			done[k] = true
			rows = append(rows, metricRow{metricName(k), k, formatMetric(k, v)})
		}
	}
	for _, k := range order {
		add(k)
	}
	for _, k := range sortedKeys(m) {
		add(k)
	}
	return rows
}

// sortedKeys returns m's keys, known metrics first in metricNames' order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := metricRank(keys[i]), metricRank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "n/a"
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case string:
		return x
	}
	if b, err := json.Marshal(sanitizeValue(v)); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// formatMetric formats a metric's value; counts ("n_..." keys), which
// read back from JSON as float64, are shown as integers.
func formatMetric(key string, v any) string {
	if f, ok := v.(float64); ok && strings.HasPrefix(key, "n_") && f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatValue(v)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	if f != 0 && (math.Abs(f) < 1e-3 || math.Abs(f) >= 1e6) {
		return strconv.FormatFloat(f, 'e', 3, 64)
	}
	return strconv.FormatFloat(f, 'f', 4, 64)
}

// sortAttr is a number as a data attribute for the page's sorting: ""
// for NaN (sorted last).
func sortAttr(n Number) string {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var outcomeWords = map[string]string{
	"error": "error", "false_positive": "false positive", "miss": "miss",
	"true_positive": "detected", "true_negative": "correct normal",
	"anomalous": "anomalous (no label)", "normal": "normal (no label)",
}

type pageRow struct {
	RowSummary
	Order                  int
	Rank                   int
	ScoreText, PValueText  string
	ScoreAttr, PValueAttr  string
	LabelText, OutcomeText string
	DecisionText           string
	RangeText              string
}

type defectTable struct {
	Keys  []string // metric keys, columns after the counts
	Names []string
	Rows  []defectRow
}

type defectRow struct {
	DefectSummary
	Values []string
}

type fig struct {
	file, alt string
	img       image.Image
}

type pageData struct {
	Summary
	Metrics        []metricRow
	ThresholdText  string
	ThresholdRule  string
	TargetFPRText  string
	Defects        defectTable
	DefectNames    []string
	Figures        []struct{ File, Alt string }
	ColorBar       bool
	PerImage       bool
	RangeText      string
	PixelThreshold string
	Rows           []pageRow
	NErrors, NFP   int
	NMiss          int
}

// renderPage builds index.html and the figures it shows.
func renderPage(s *Summary, opt Options) ([]byte, []fig, error) {
	d := pageData{Summary: *s, Metrics: metricTable(s.Metrics, s.MetricOrder)}
	thr := float64(s.Threshold)
	if v, ok := s.Metrics["threshold"].(float64); math.IsNaN(thr) && ok {
		thr = v
	}
	d.ThresholdText = "none"
	if !math.IsNaN(thr) && !math.IsInf(thr, 0) {
		d.ThresholdText = formatFloat(thr)
	}
	d.ThresholdRule = s.ThresholdRule
	for _, k := range []string{"threshold_rule", "rule"} {
		if r, ok := s.Metrics[k].(string); d.ThresholdRule == "" && ok {
			d.ThresholdRule = r
		}
	}
	target := float64(s.TargetFPR)
	if v, ok := s.Metrics["target_fpr"].(float64); !(target > 0) && ok {
		target = v
	}
	if target > 0 {
		d.TargetFPRText = formatFloat(target)
	}

	keys := map[string]bool{}
	for _, r := range s.PerDefect {
		for k := range r.Metrics {
			keys[k] = true
		}
	}
	all := map[string]any{}
	for k := range keys {
		all[k] = nil
	}
	d.Defects.Keys = sortedKeys(all)
	for _, k := range d.Defects.Keys {
		d.Defects.Names = append(d.Defects.Names, metricName(k))
	}
	for _, r := range s.PerDefect {
		dr := defectRow{DefectSummary: r}
		for _, k := range d.Defects.Keys {
			v, ok := r.Metrics[k]
			if !ok {
				dr.Values = append(dr.Values, "")
				continue
			}
			dr.Values = append(dr.Values, formatMetric(k, v))
		}
		d.Defects.Rows = append(d.Defects.Rows, dr)
		if r.Images > 0 {
			d.DefectNames = append(d.DefectNames, r.Defect)
		}
	}

	var figs []fig
	if len(s.ROC.X) > 0 {
		figs = append(figs, fig{"roc.png", "ROC curve", rocPlot(s.ROC)})
	}
	if len(s.PR.X) > 0 {
		figs = append(figs, fig{"pr.png", "precision-recall curve", prPlot(s.PR)})
	}
	if len(s.NormalScores)+len(s.AnomalousScores) > 0 {
		ns, as := floats(s.NormalScores), floats(s.AnomalousScores)
		hasThr := !math.IsNaN(thr) && !math.IsInf(thr, 0)
		figs = append(figs, fig{"hist.png", "score histogram", histPlot(ns, as, thr, hasThr)})
	}
	for _, f := range figs {
		d.Figures = append(d.Figures, struct{ File, Alt string }{f.file, f.alt})
	}

	d.PerImage = !opt.fixedRange()
	if opt.PixelThreshold != nil {
		d.PixelThreshold = shortNum(*opt.PixelThreshold)
	}
	if !d.PerImage {
		d.RangeText = shortNum(opt.MapRange[0]) + " to " + shortNum(opt.MapRange[1])
	}
	for _, r := range s.Rows {
		pr := pageRow{
			RowSummary: r, Rank: rankOutcome(r.Outcome),
			ScoreText: formatFloat(float64(r.Score)), PValueText: formatFloat(float64(r.PValue)),
			ScoreAttr: sortAttr(r.Score), PValueAttr: sortAttr(r.PValue),
			OutcomeText: outcomeWords[r.Outcome],
		}
		switch r.Label {
		case 0:
			pr.LabelText = "normal"
		case 1:
			pr.LabelText = "anomalous"
		default:
			pr.LabelText = "unknown"
		}
		switch {
		case r.Error != "":
			pr.DecisionText = "error"
		case r.Decision:
			pr.DecisionText = "anomalous"
		default:
			pr.DecisionText = "normal"
		}
		if r.MapRange != nil {
			pr.RangeText = shortNum(float64(r.MapRange[0])) + " to " + shortNum(float64(r.MapRange[1]))
		}
		if r.Overlay != "" {
			d.ColorBar = true
		}
		switch r.Outcome {
		case "error":
			d.NErrors++
		case "false_positive":
			d.NFP++
		case "miss":
			d.NMiss++
		}
		d.Rows = append(d.Rows, pr)
	}
	// Default order: errors, false positives, misses, then the rest; by
	// score (highest first, NaN last) within each group.
	sort.SliceStable(d.Rows, func(i, j int) bool {
		a, b := d.Rows[i], d.Rows[j]
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		sa, sb := float64(a.Score), float64(b.Score)
		if math.IsNaN(sa) != math.IsNaN(sb) {
			return !math.IsNaN(sa)
		}
		return sa > sb
	})
	for i := range d.Rows {
		d.Rows[i].Order = i
	}
	if d.ColorBar {
		var lo, hi float64 = 0, 1
		if !d.PerImage {
			lo, hi = opt.MapRange[0], opt.MapRange[1]
		}
		figs = append(figs, fig{"colorbar.png", "colour bar", ColorBar(520, lo, hi, opt.PixelThreshold, d.PerImage)})
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		return nil, nil, fmt.Errorf("rendering index.html: %w", err)
	}
	return buf.Bytes(), figs, nil
}

func floats(v []Number) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; }
h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-family: monospace; }
.key { color: #777; font-family: monospace; font-size: 0.85em; }
.warn { background: #fff6d5; border: 1px solid #e0c060; padding: 0.5em 1em; }
.figs img { margin-right: 1em; }
#images th[data-key] { cursor: pointer; text-decoration: underline dotted; }
#images th.asc::after { content: " ▲"; }
#images th.desc::after { content: " ▼"; }
#images img { display: block; }
tr.false_positive { background: #fff1dc; }
tr.false_positive td:first-child { border-left: 6px solid #e08000; }
tr.miss { background: #ffe3e3; }
tr.miss td:first-child { border-left: 6px solid #d00000; }
tr.error { background: #eee; }
tr.error td:first-child { border-left: 6px solid #555; }
.badge { display: inline-block; padding: 1px 6px; border-radius: 3px; font-weight: bold; }
.false_positive .badge { background: #e08000; color: #fff; }
.miss .badge { background: #d00000; color: #fff; }
.error .badge { background: #555; color: #fff; }
.errmsg { color: #900; font-family: monospace; }
.path { color: #666; font-size: 0.85em; word-break: break-all; }
.controls { margin: 0.5em 0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Warnings}}<div class="warn" id="warnings"><strong>Warnings</strong><ul>
{{range .Warnings}}<li>{{.}}</li>
{{end}}</ul></div>
{{end}}<h2>Metrics</h2>
<table id="metrics">
<tr><th>metric</th><th>value</th><th>key in metrics.json</th></tr>
<tr id="threshold"><td>Decision threshold on the image score</td><td class="num">{{.ThresholdText}}</td><td>{{if .ThresholdRule}}rule: {{.ThresholdRule}}{{end}}{{if .TargetFPRText}}{{if .ThresholdRule}}; {{end}}target false-positive rate: {{.TargetFPRText}}{{end}} <span class="key">threshold</span></td></tr>
{{range .Metrics}}<tr><td>{{.Name}}</td><td class="num">{{.Value}}</td><td class="key">{{.Key}}</td></tr>
{{end}}</table>
{{if .Defects.Rows}}<h2>By defect type</h2>
<table id="defects">
<tr><th>defect type</th><th>images</th><th>flagged anomalous</th><th>failed</th>{{range .Defects.Names}}<th>{{.}}</th>{{end}}</tr>
{{range .Defects.Rows}}<tr><td>{{.Defect}}</td><td class="num">{{.Images}}</td><td class="num">{{.Flagged}}</td><td class="num">{{.Errors}}</td>{{range .Values}}<td class="num">{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{if .Figures}}<div class="figs">
{{range .Figures}}<img src="{{.File}}" alt="{{.Alt}}">{{end}}
</div>
{{end}}<h2>Images</h2>
<p>Failed: {{.NErrors}}, false positives: {{.NFP}}, misses: {{.NMiss}} (listed first). Click a column header to sort.</p>
{{if .ColorBar}}<div id="legend"><img src="colorbar.png" alt="colour bar">
<p>{{if .PerImage}}<strong>No calibrated colour range was given: each heatmap is scaled to its own minimum (blue) and maximum (red), so colours are not comparable between images.</strong> Each heatmap's range is printed under it.{{else}}Heatmap colours: blue = low, red = high, one fixed scale for every image ({{.RangeText}}){{if .PixelThreshold}}; the black tick marks the pixel threshold {{.PixelThreshold}}{{end}}.{{end}}
Magenta outline: predicted anomalous region. Green outline: ground-truth defect region.</p></div>
{{end}}<div class="controls">Show <select id="show">
<option value="all">all images</option>
<option value="error">failed images</option>
<option value="false_positive">false positives</option>
<option value="miss">misses</option>
<option value="label1">labelled anomalous</option>
<option value="label0">labelled normal</option>
<option value="flagged">flagged anomalous</option>
</select>
{{if .DefectNames}}defect type <select id="defect"><option value="">all</option>{{range .DefectNames}}<option>{{.}}</option>{{end}}</select>{{end}}
<span id="count"></span></div>
<table id="images">
<thead><tr><th data-key="order" data-type="num">#</th><th data-key="name">image</th><th>picture</th><th>ground truth</th><th>heatmap and predicted region</th><th data-key="score" data-type="num">score</th><th data-key="pvalue" data-type="num">p-value</th><th data-key="rank" data-type="num">outcome</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Outcome}}" data-order="{{.Order}}" data-name="{{.Name}}" data-defect="{{.Defect}}" data-score="{{.ScoreAttr}}" data-pvalue="{{.PValueAttr}}" data-labelnum="{{.Label}}" data-decision="{{.DecisionText}}" data-outcome="{{.Outcome}}" data-rank="{{.Rank}}">
<td class="num">{{.Order}}</td>
<td>{{.Name}}{{if and .Path (ne .Path .Name)}}<div class="path">{{.Path}}</div>{{end}}{{if .Defect}}<div class="path">defect type: {{.Defect}}</div>{{end}}</td>
{{if .Error}}<td colspan="3" class="errmsg">{{.Error}}</td>{{else}}<td>{{if .Image}}<img src="{{.Image}}" alt="image">{{end}}</td>
<td>{{if .Mask}}<img src="{{.Mask}}" alt="ground truth">{{end}}</td>
<td>{{if .Overlay}}<img src="{{.Overlay}}" alt="heatmap">{{if .RangeText}}<div class="path">range {{.RangeText}}</div>{{end}}{{end}}</td>{{end}}
<td class="num">{{.ScoreText}}</td>
<td class="num">{{.PValueText}}</td>
<td>{{if lt .Rank 3}}<span class="badge">{{.OutcomeText}}</span>{{else}}{{.OutcomeText}}{{end}}<div class="path">label: {{.LabelText}}<br>decision: {{.DecisionText}}</div></td>
</tr>
{{end}}</tbody>
</table>
<script>
(function () {
  var tb = document.querySelector("#images tbody");
  var rows = Array.prototype.slice.call(tb.rows);
  var show = document.getElementById("show"), defect = document.getElementById("defect");
  function apply() {
    var s = show.value, d = defect ? defect.value : "", n = 0;
    rows.forEach(function (r) {
      var ok = s === "all" || r.dataset.outcome === s ||
        (s === "label1" && r.dataset.labelnum === "1") || (s === "label0" && r.dataset.labelnum === "0") ||
        (s === "flagged" && r.dataset.decision === "anomalous");
      if (d && r.dataset.defect !== d) ok = false;
      r.hidden = !ok;
      if (ok) n++;
    });
    document.getElementById("count").textContent = n + " of " + rows.length + " images shown";
  }
  var cur = "order", asc = true;
  var heads = document.querySelectorAll("#images th[data-key]");
  heads.forEach(function (th) {
    th.addEventListener("click", function () {
      var k = th.dataset.key, num = th.dataset.type === "num";
      asc = cur === k ? !asc : true;
      cur = k;
      rows.sort(function (a, b) {
        var x = a.dataset[k], y = b.dataset[k], c = 0;
        if (num) {
          // Missing numbers (n/a) sort last in both directions.
          if (x === "" || y === "") c = x === y ? 0 : (x === "" ? 1 : -1) * (asc ? 1 : -1);
          else c = Number(x) - Number(y);
        } else c = x < y ? -1 : x > y ? 1 : 0;
        if (!asc) c = -c;
        return c || a.dataset.order - b.dataset.order;
      });
      rows.forEach(function (r) { tb.appendChild(r); });
      heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
    });
  });
  show.addEventListener("change", apply);
  if (defect) defect.addEventListener("change", apply);
  apply();
})();
</script>
</body>
</html>
`))
