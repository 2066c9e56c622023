// Package dataset reads anomaly-detection datasets in the layouts the
// field uses and generates the embedded demo data.
//
// Every loader returns the same Dataset: Train and Val hold normal images
// only, Test holds normal (Label 0, Defect "good") and anomalous (Label 1,
// Defect the defect type) images. Val is kept for calibration: the
// layout's own validation folder where it has one, else a seeded random
// part of the training normals (max(MinVal, round(ValFraction·n)), by
// default max(5, 10%)). Layouts without a test split hold out a seeded
// TestFraction (20%, at least one) of the normals as normal test images
// before Val is carved. Random choices depend only on Options.Seed;
// Dataset.Split records what reproduces the split (SplitInfo.Apply).
//
// Loading is lazy: loaders list files and read only image headers, to
// enforce the pixel limit and mask sizes early and to describe the data in
// Dataset.Warnings (mixed gray and colour, mixed sizes, masks without an
// image, anomalous images without a mask). Sample.Load decodes one image
// with its mask and the SHA-256 of its file, so memory is bounded by what
// the caller holds. IDX and demo data are in memory (Sample.Image set).
//
// Layouts (Source.Layout; Load detects them by the markers in brackets):
//
//   - mvtec [test/]: dir/train/good/*, dir/test/good/*, dir/test/<defect>/*
//     and optional dir/ground_truth/<defect>/<stem>_mask.png. With
//     SkipTrain, train/ may be absent.
//   - folders [Source.Normal]: a folder of normal images, an optional
//     folder of anomalous images (Defect "anomaly") and an optional folder
//     of masks matched by stem (<stem>_mask.* preferred, else <stem>.*).
//   - idx [train-images-idx3-ubyte]: MNIST-style IDX files under the
//     one-class protocol; the normal class must be given.
//   - mvtec_loco [defects_config.json, test/logical_anomalies/]: MVTec LOCO
//     AD: train/good, validation/good (Val), test/good,
//     test/logical_anomalies, test/structural_anomalies and
//     ground_truth/<type>/<stem>/000.png, 001.png, ... one file per defect,
//     merged for Load and kept apart by Sample.Regions for sPRO with the
//     saturation of defects_config.json (by each mask's pixel value).
//   - mvtec_3d [train/good/rgb/]: MVTec 3D-AD: <split>/<defect>/rgb/*.png
//     samples, gt/*.png masks (all-zero for good), xyz/*.tiff point clouds
//     in Sample.Aux["xyz"] (LoadXYZ reads them); validation/good is Val.
//   - severstal [train.csv, train_images/]: Severstal steel: run-length
//     masks (1-indexed, column-major) by ImageId and ClassId; images
//     without runs are normal. Source.Class picks the anomalous class (0
//     any); Defect is "class<N>" (joined with "+" for several).
//   - nanotwice [Normal/, Anomalous/]: Normal/* normals,
//     Anomalous/images/* anomalous images, Anomalous/gt/* masks matched by
//     stem with an optional _gt or _mask suffix.
//   - csv [a .csv file]: a manifest with columns path,label[,mask][,split]
//     [,defect], paths relative to the manifest's folder (see Load).
//
// Images keep their native size and channel count (1 for gray, 3 for
// colour; see imageio.Load); masks are 0/1 at image resolution. When every
// anomalous test image has a mask, HasMasks is set and normal test images
// have an all-zero mask (Sample.HasMask); with only some masked, NoMask
// lists the others. Demo generates procedural textures with synthetic
// defects and exact masks; WriteMVTec writes any Dataset in the MVTec
// layout.
package dataset
