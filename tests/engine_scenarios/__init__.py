"""The grading engine's test scenarios and the toy homework plug-in they use."""
