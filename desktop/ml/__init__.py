"""Training and prediction, free of Qt and of the database: paths, labels and arrays in, models out.

Importing this package is free; its modules import torch, so the GUI imports them in worker threads.

    builds       full build (torch) or CPU build (no torch), asked without importing torch
    splits       train/val assignment and the minimum-data check (pure Python, no torch)
    options      TrainingOptions: what a run asks for and, resolved, what it ran (pure Python, no torch)
    backbones    registry of pretrained networks and where their weights come from
    onnx_engine  CPU inference of a backbone's feature extractor in ONNX Runtime (torch when that fails)
    onnx_rules   what any ONNX file must be before ONNX Runtime opens it (cached backbones, predict-file)
    shipped/     the built-in backbones as ONNX files installed with the package, and their manifest (no torch)
    feature_set_network  a feature set's network: its members side by side (torch)
    model        backbone + linear head, partial freezing
    transforms   train / eval preprocessing presets from a backbone's spec
    preprocess   evaluation preprocessing in numpy and Pillow, shared by both builds (no torch)
    data         image Dataset and DataLoader (decoding in workers, broken files skipped)
    features     on-disk cache of frozen-backbone features
    feature_engine  ONNX Runtime or torch for a batch of features, and the fallback between them
    engine       train_one_epoch / evaluate / LR schedule
    metrics      classification metrics of predictions (numpy only)
    crossval     stratified folds, the logistic-regression head (numpy + scipy) and its L2 grid
    grouping     near-duplicate groups without visiting every pair, in cancellable blocks
    calibration  temperature scaling (kept only where it helps held-out photos), reliability
    precision    per-class thresholds for a wanted precision from held-out predictions, expected mistakes
    train_job    train(...) whichever the build: the trainer with torch, the frozen path without
    frozen       frozen training without torch: features, cross-validated head, calibration, checkpoint
    trainer      train(options, items, class_names, cache_dir, on_progress, cancel) -> TrainResult
    train_record  what a run produces: TrainItem, EpochRecord, TrainResult, the checkpoint dict built from them
    run_reports  what a run tells as it goes, in either mode: its notices, the loading step, each epoch
    linear_probe  linear heads on cached features: fine-tuning's probe, fit_linear_head for tools
    distributed  ranks under torchrun: process group, shards, gathers, DDP
    checkpoint   versioned model files, atomic save, safe load (numpy arrays, no torch)
    torch_zip    torch.save's format read and written without torch: numpy arrays, a restricted unpickler
    predict      Predictor: probabilities for image files or arrays (a frozen model without torch)
    torch_predict  a fine-tuned model run whole in torch (full build)
    scoring      what every predictor shares: the interface, softmax, non-finite scores refused
    export       TorchScript / ONNX export and loading (ONNX without torch)
    export_format  what an exported file is: its names, label map, the export error (no torch)
    frozen_onnx  a frozen model's ONNX file from the backbone's ONNX graph, without torch
    torch_export  the full build's exports in torch: the eager pipeline, TorchScript, torch's ONNX
    gradcam      Grad-CAM heatmaps
    frozen_cam   a frozen model's Grad-CAM from the backbone's ONNX map and the head, no torch
    label_issues  out-of-fold ranking of likely label mistakes
    device, seed   helpers
"""
