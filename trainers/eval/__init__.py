"""The evaluation kit: one place that knows how to measure disentangling, shared by every model.

A model module (`trainers/models/<name>.py`) holds only the model. What the kit needs from a model is a
small adapter on its `Model` (each method optional; what a model lacks is reported under "skipped"):

    static_from: str                      "frame": the static code is read from one frame (DrNet's content
                                          encoder: the first frame given); "clip": from the whole clip
                                          (the unordered-pairs VAE's q(f | frames)); "none": no encoder
    encode_static(frames) -> code         frames (B, T, C, H, W) in [0, 1] -> the static code of each clip
    encode_dynamic(frames) -> Tensor      frames (B, T, C, H, W) -> (B, T, d_dynamic), one code per frame
    generate(static, dynamic) -> Tensor   a static code for B clips and dynamic codes (B, T, d_dynamic) ->
                                          frames (B, T, C, H, W) in [0, 1] (a tanh model maps (x + 1) / 2)
    sample_static(n, generator) -> code   n draws of the static code from the model's prior
    sample_dynamic(n, t, generator, static=None) -> Tensor
                                          (n, t, d_dynamic) from the prior (conditioned on `static` where
                                          the model's prior is, e.g. p(z_i | f))

A code is a tensor (B, d), or a tuple whose first element is that tensor and whose other elements are
batch-first tensors the generator also needs (DrNet's U-Net skip maps): `codes.vector`, `codes.take` and
`codes.repeat` handle both. `generator` is a torch.Generator on the model's device.

Per-model evaluation recipes (what each paper reports, composed from the kit) live beside the kit as
`trainers/eval/<model>.py`, each with `evaluate(model, cfg, data, out_dir, **kw) -> dict`.

Modules:
    codes     indexing and repeating codes (tensors or tuples of tensors)
    data      reading evaluation clips from a dataset's splits
    labels    every dataset-specific label name: probe targets, positions, judge factors
    probes    logistic / MLP probes and ridge R² on frozen features
    swaps     content/pose swaps scored against the exact counterfactual re-rendering
    video     SSIM and prediction scores against copying the last frame
    figures   grids, strips, sweeps, GIFs
    judge     a per-frame classifier of a synthetic set's factors and the sequential-VAE protocol
    identity  the dlib ResNet face embedding and identity distances
"""
