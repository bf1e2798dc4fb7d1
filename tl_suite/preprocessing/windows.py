"""Long texts as several windows of ``sequence_length`` tokens, each packed on its own."""

import keras
import keras_hub
import tensorflow as tf

from tl_suite.preprocessing.text import TextPreprocessor, is_text_pair


def trim_windows(x):
    """Dynamic padding of window batches: drop empty windows and padding columns past the
    longest window of the batch."""
    lengths = tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=-1)  # (batch, windows)
    longest = tf.reduce_max(lengths)
    windows = tf.reduce_max(tf.reduce_sum(tf.cast(lengths > 0, tf.int32), axis=-1))
    return {key: value[:, :windows, :longest] for key, value in x.items()}


@keras.saving.register_keras_serializable(package="tl_suite")
class WindowedTextPreprocessor(TextPreprocessor):
    """Long texts as up to ``max_windows`` consecutive windows of ``sequence_length`` tokens.

    Each window is packed on its own (``[CLS] piece ... [SEP]``); the outputs have shape
    ``(batch, windows, length)``. Texts shorter than ``max_windows`` windows get fewer (the
    rest is padding with an all-false ``padding_mask``); the tokens beyond the last window are
    dropped. With ``dynamic_padding`` a batch is cut to its most windows and longest window.
    """

    def __init__(self, tokenizer, sequence_length=128, max_windows=4, dynamic_padding=True,
                 wide_tokens=None, **kwargs):
        super().__init__(tokenizer=tokenizer, sequence_length=sequence_length,
                         dynamic_padding=dynamic_padding, wide_tokens=wide_tokens, **kwargs)
        self.max_windows = max_windows

    def build(self, input_shape):
        super().build(input_shape)
        self.window_packer = keras_hub.layers.StartEndPacker(
            start_value=self.tokenizer.start_token_id, end_value=self.tokenizer.end_token_id,
            pad_value=self.tokenizer.pad_token_id, sequence_length=self.sequence_length,
            return_padding_mask=True,
        )

    def call(self, x, y=None, sample_weight=None):
        if is_text_pair(x):
            raise ValueError(
                "A model built with max_windows > 1 reads one text per example; text pairs need "
                "max_windows=1. Received: a batch of text pairs."
            )
        if isinstance(x, dict):
            raise ValueError(
                "A model built with max_windows > 1 tokenizes its texts itself (into windows); "
                "pass raw strings: build the dataset without tokenize=True. Received: a batch "
                f"of token ids with keys {sorted(x)}."
            )
        texts = tf.convert_to_tensor(x)
        # keras-hub tokenizers run a pure-Python path in eager mode; windows need the TF one.
        x = self.with_tf_idf(self._windows(texts), texts)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @tf.function(reduce_retracing=True)
    def _windows(self, x):
        body = self.sequence_length - 2  # room left by [CLS] and [SEP]
        pieces = self.tokenizer(x)
        pieces = pieces[:, : body * self.max_windows]
        lengths = pieces.row_lengths()
        counts = tf.maximum((lengths + body - 1) // body, 1)  # an empty text still gets a window
        starts = tf.ragged.range(counts) * body
        window_lengths = tf.minimum(tf.expand_dims(lengths, 1) - starts, body)
        windows = tf.RaggedTensor.from_row_lengths(pieces.flat_values, window_lengths.flat_values)
        token_ids, padding_mask = self.window_packer(windows)
        shape = [None, self.max_windows, self.sequence_length]
        token_ids = tf.RaggedTensor.from_row_lengths(token_ids, counts).to_tensor(
            default_value=self.tokenizer.pad_token_id, shape=shape)
        padding_mask = tf.RaggedTensor.from_row_lengths(padding_mask, counts).to_tensor(
            default_value=False, shape=shape)
        x = {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids), "padding_mask": padding_mask}
        return trim_windows(x) if self.dynamic_padding else x

    def get_config(self):
        config = super().get_config()
        config["max_windows"] = self.max_windows
        return config
