"""Fine-tuning: freezing primitives and one recompile, discriminative optimizer, schedules,
`fine_tune`, the learning-rate finder and LoRA adapters."""
