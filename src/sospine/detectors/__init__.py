"""Detectors: their kinds (`kinds`), training and prediction with ultralytics, command detectors, given
weights and the gate every checkpoint passes."""
