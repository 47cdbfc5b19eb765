"""Training: LoRA SFT, DPO from the store, the multi-round loop."""
