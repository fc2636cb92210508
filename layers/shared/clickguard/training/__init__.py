"""Training: from archived events to a calibrated, published model."""
