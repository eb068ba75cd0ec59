"""phi3ray.models: the common loader, LoRA/QLoRA setup, adapters and the tiny Phi-3."""
