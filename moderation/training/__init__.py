"""Training the swap detector on synthetic fakes, and evaluating it on real deepfakes."""
