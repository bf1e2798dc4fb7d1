"""What tl_suite writes to TensorBoard, one file per dashboard.

- `writers`: one TensorBoard run folder opened for writing; text, PR-curve and figure
  summaries written with TensorBoard's own plugins.
- `hparams`: each `fit` / `fine_tune` run's hyperparameters and best-epoch metrics (HParams tab).
- `graph`: the model's inference graph (Graphs tab).
- `evaluation`: `evaluate`'s report (Text), per-class scalars, PR curves, figures and mistakes.
- `mistakes`: the most confident mistakes of an evaluation with their raw inputs, as a grid of
  images (Images) or a markdown table of texts / tagged sentences (Text).
- `learning_rates`: `find_learning_rate`'s sweep in its own run ``lr_finder``.

Layout of a log folder (``tensorboard --logdir log_dir``)::

    log_dir/run-001/        the run's HParams session and best/* scalars; train/ and
                            validation/ hold Keras' per-epoch scalars, train/ the graph
    log_dir/evaluation/     evaluate: test/* scalars, report, PR curves, figures, mistakes
    log_dir/lr_finder/      find_learning_rate: loss per step, learning rate per step, curve
"""
