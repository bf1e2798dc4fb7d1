"""Learning-rate finder (Smith 2015, fastai's ``lr_find``): `find_learning_rate`."""

import dataclasses

import keras
import numpy as np
from matplotlib.figure import Figure

from tl_suite.fine_tuning.freezing import is_frozen, recompile
from tl_suite.models.word_ratios import ratios_from_cache, ratios_from_texts
from tl_suite.training.cached_head import head_trainer
from tl_suite.training.dashboards.learning_rates import log_learning_rate_sweep
from tl_suite.training.feature_cache import FeatureCache


@dataclasses.dataclass
class LearningRateSweep:
    """Result of `find_learning_rate`."""

    learning_rates: np.ndarray
    losses: np.ndarray  # smoothed (bias-corrected exponential moving average)
    raw_losses: np.ndarray
    suggestion: float
    figure: Figure


class _Sweep(keras.callbacks.Callback):
    """Sets the next learning rate before each one-batch epoch; records the loss; stops once
    it diverges."""

    def __init__(self, rates, smoothing, diverge_factor):
        super().__init__()
        self.rates, self.smoothing, self.diverge_factor = rates, smoothing, diverge_factor
        self.raw, self.smoothed, self.average, self.best = [], [], 0.0, np.inf

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rates[epoch])

    def on_epoch_end(self, epoch, logs=None):
        loss = float(logs["loss"])
        self.raw.append(loss)
        self.average = self.smoothing * self.average + (1 - self.smoothing) * loss
        smoothed = self.average / (1 - self.smoothing ** (epoch + 1))
        self.smoothed.append(smoothed)
        self.best = min(self.best, smoothed)
        if not np.isfinite(loss) or smoothed > self.diverge_factor * self.best:
            self.model.stop_training = True


def _suggest(rates, losses):
    """The rate where the smoothed loss falls fastest (per log-rate), before its minimum."""
    lowest = int(np.argmin(losses))
    skip = max(1, len(losses) // 10)
    if lowest - skip < 2:  # the loss never fell: a tenth of where it was lowest
        return float(max(rates[lowest] / 10, rates[0]))
    slopes = np.gradient(losses[:lowest + 1], np.log(rates[:lowest + 1]))
    return float(rates[skip + int(np.argmin(slopes[skip:]))])


def _run_sweep(model, train, sweep, verbose):
    """Train what is trainable in ``model`` one batch per rate of ``sweep`` with a fresh Adam,
    then put back every weight, the optimizer and the compile settings."""
    saved = [np.array(v) for v in model.variables]
    original = model.optimizer
    settings = {"jit_compile": model.jit_compile, "steps_per_execution": model.steps_per_execution}
    cache = None
    try:
        recompile(model, lambda: keras.optimizers.Adam(sweep.rates[0]), steps_per_execution=1)
        target, data = model, train
        if is_frozen(model):  # train the head alone on cached features, as `fit` does
            cache = FeatureCache.from_dataset(model, train, description="training", verbose=verbose)
            ratios_from_cache(model, cache)  # a wide head's naive-Bayes ratios, as `fit` sets them
            # One step per call (not `fit`'s 16): each batch must see its own rate.
            target, data = head_trainer(model, steps_per_execution=1), cache.dataset(seed=0)
        else:
            ratios_from_texts(model, train)  # from all of ``train``, not the sweep's first batch
        target.fit(data.repeat(), epochs=len(sweep.rates), steps_per_epoch=1, callbacks=[sweep],
                   verbose=0, shuffle=False)
    finally:
        for variable, value in zip(model.variables, saved):
            variable.assign(value)
        if cache is not None:
            cache.close()
        recompile(model, original, **settings)


def _figure(rates, losses, raw, suggestion):
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot(rates, losses, label="smoothed loss")
    axes.plot(rates, raw, alpha=0.3, label="batch loss")
    axes.axvline(suggestion, color="red", linestyle="--", label=f"suggestion {suggestion:.2g}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_ylim(top=min(float(np.nanmax(losses)), 4 * float(np.nanmin(losses)) + 1e-3) * 1.05)
    axes.set_title("Learning-rate finder")
    axes.legend()
    figure.tight_layout()
    return figure


def find_learning_rate(model, train, start_learning_rate=1e-7, end_learning_rate=10.0, num_steps=100,
                       smoothing=0.9, diverge_factor=4.0, log_dir=None, verbose=True):
    """Learning-rate finder (Smith 2015, fastai's ``lr_find``): train with an exponentially
    growing learning rate, one batch per step, until the loss diverges; plot loss vs rate.

    It trains what is trainable now: the head on cached features when the base is frozen (a
    fresh builder model), the unfrozen layers otherwise, with a fresh Adam. Afterwards every
    weight of ``model`` is restored exactly and its own optimizer and compile settings are
    back, so the sweep leaves no trace.

    Args:
        model: A compiled tl_suite model.
        train: Training dataset (repeated as needed).
        start_learning_rate, end_learning_rate: Range of the sweep.
        num_steps: Number of batches (learning rates) tried.
        smoothing: Exponential smoothing of the loss curve.
        diverge_factor: Stop once the smoothed loss exceeds this multiple of its minimum.
        log_dir: If given, the sweep goes into TensorBoard's run ``log_dir/lr_finder``: the
            plot of loss against learning rate (image ``lr_finder/loss_vs_learning_rate``), the
            smoothed and batch losses and the rate per step (scalars ``lr_finder/loss``,
            ``lr_finder/batch_loss``, ``lr_finder/learning_rate``; TensorBoard plots scalars
            against the step only) and the suggestion with a table of the sweep (text
            ``lr_finder/suggestion``).
        verbose: Print the suggestion.

    Returns:
        A `LearningRateSweep` (rates, smoothed and raw losses, ``suggestion``, ``figure``).

    Example:
    >>> import numpy as np, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, batch_size=4, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> sweep = tl_suite.find_learning_rate(model, train, num_steps=20, verbose=False)
    >>> bool(1e-7 <= sweep.suggestion <= 10)
    True
    """
    if not 0 < start_learning_rate < end_learning_rate:
        raise ValueError(
            "Need 0 < start_learning_rate < end_learning_rate. Received: "
            f"start_learning_rate={start_learning_rate!r}, end_learning_rate={end_learning_rate!r}."
        )
    if not isinstance(num_steps, int) or num_steps < 5:
        raise ValueError(f"`num_steps` must be an integer >= 5. Received: num_steps={num_steps!r}.")
    growth = (end_learning_rate / start_learning_rate) ** (np.arange(num_steps) / (num_steps - 1))
    sweep = _Sweep(start_learning_rate * growth, smoothing, diverge_factor)
    if getattr(model.preprocessor, "needs_adapt", False):
        model.preprocessor.adapt(train)  # the TF-IDF vocabulary, as `fit` learns it
    _run_sweep(model, train, sweep, verbose)
    tried = sweep.rates[:len(sweep.raw)]
    losses, raw = np.array(sweep.smoothed), np.array(sweep.raw)
    suggestion = _suggest(tried, losses)
    result = LearningRateSweep(tried, losses, raw, suggestion, _figure(tried, losses, raw, suggestion))
    if log_dir is not None:
        log_learning_rate_sweep(log_dir, result)
    if verbose:
        print(f"Learning-rate finder: {len(tried)} steps from {tried[0]:.1e} to {tried[-1]:.1e}; "
              f"lowest smoothed loss at {tried[int(np.argmin(losses))]:.1e}; suggestion {suggestion:.1e}")
    return result
