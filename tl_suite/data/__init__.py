"""Data: `image_dataset`, `text_dataset`, `token_dataset` as read -> check -> encode -> split ->
pipeline steps, with the `DatasetInfo` each dataset carries and the offline data sources."""
