"""Pure numeric kernels of the generator: functions of arrays and parameters, no randomness."""
