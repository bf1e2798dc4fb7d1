"""What every part needs to know about a compiled tl_suite model: is it one, is its base
frozen, what it is compiled with, and the strategy scope its optimizers belong to."""

import keras

from tl_suite.models.task import TransferModel


def is_transfer_model(model):
    """True for models made by tl_suite builders (the one model contract)."""
    return isinstance(model, TransferModel)


def is_frozen(model):
    """True when only the ``head`` of a tl_suite model has trainable weights."""
    if not is_transfer_model(model):
        return False
    head_ids = {id(weight) for weight in model.head.trainable_weights}
    return all(id(weight) in head_ids for weight in model.trainable_weights)


def compile_arguments(model):
    """``{"loss": ..., "metrics": [...]}`` the model is compiled with, as fresh objects (the
    task defaults of a tl_suite model, unless the user compiled it with others)."""
    config = model.get_compile_config() or {}
    loss = config.get("loss", model.loss)
    if loss is not None and not isinstance(loss, str):
        loss = keras.losses.deserialize(loss)
    metrics = [m if isinstance(m, str) else keras.metrics.deserialize(m)
               for m in config.get("metrics") or []]
    return {"loss": loss, "metrics": metrics}


def strategy_scope(model):
    """The scope of the distribution strategy ``model`` was built under (optimizers made for
    it must be created there)."""
    return model.distribute_strategy.scope()
