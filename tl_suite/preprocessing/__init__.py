"""Preprocessors: raw inputs (images, strings, words) -> the tensors a backbone takes.

They sit below both `tl_suite.data` (which may tokenize once) and `tl_suite.models` (whose
``model.preprocessor`` is one of them), so neither imports the other.
"""
