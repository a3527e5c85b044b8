"""Models: build, compile and train a configuration with Keras (the only code that calls `fit`)."""
