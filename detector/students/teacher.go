package students

import (
	"fmt"
	"strconv"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

const teacherFormat = "vigil-students-teacher"

// saveTeachers writes every receptive field's teacher to one safetensors
// file ("p33.conv0.weight", ...), with metadata saying how it was trained
// and on which data, so that it can be reused (teacher_load).
func (d *Detector) saveTeachers(path string, nTrain int, extra *tensor.Tensor) error {
	var ts []safetensors.Tensor
	for _, sc := range d.scales {
		for _, t := range nn.StateTensors(sc.teacher) {
			t.Name = fmt.Sprintf("p%d.%s", sc.p, t.Name)
			ts = append(ts, t)
		}
	}
	nExtra := 0
	if extra != nil {
		nExtra = extra.Shape[0]
	}
	meta := map[string]string{
		"format": teacherFormat, "dim": strconv.Itoa(d.cfg.Dim), "width": strconv.FormatFloat(d.cfg.Width, 'g', -1, 64),
		"mode": d.cfg.Teacher, "train_images": strconv.Itoa(nTrain), "teacher_data": d.cfg.TeacherData,
		"teacher_data_images": strconv.Itoa(nExtra), "size": strconv.Itoa(d.cfg.Size),
	}
	if d.cfg.Teacher == "distill" {
		meta["backbone"] = d.cfg.Backbone
	}
	if err := safetensors.WriteFile(path, meta, ts); err != nil {
		return fmt.Errorf("students: teacher_save: %w", err)
	}
	return nil
}

// loadTeacher fills net from the teacher file at path, checking the format,
// the shapes and that every value is finite.
func loadTeacher(path string, net *arch.PatchNet) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("students: teacher_load: %w", err)
	}
	if f.Metadata["format"] != teacherFormat {
		return fmt.Errorf("students: teacher_load %s: not a teacher file (format %q)", path, f.Metadata["format"])
	}
	pre := fmt.Sprintf("p%d.", net.P)
	if err := nn.LoadState(f, net, pre, true); err != nil {
		return fmt.Errorf("students: teacher_load %s (patch size %d, dim %d, and width must match the file's dim %s, width %s): %w",
			path, net.P, net.Dim, f.Metadata["dim"], f.Metadata["width"], err)
	}
	for _, p := range net.Params() {
		if err := modelcheck.Finite(pre+p.Name, p.Value.Data); err != nil {
			return fmt.Errorf("students: teacher_load %s: %w", path, err)
		}
	}
	return nil
}
