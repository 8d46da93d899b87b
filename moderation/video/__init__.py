"""Video decoding with PyAV: probing, frame sampling, typed errors."""
