"""What several benchmarks drive, one module per part of envctl they start and load."""
