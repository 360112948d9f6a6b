"""The hidden reference solution of Homework 3: the lab functions and the notebook builder."""

# A marker the grader carries into every piece of reference code it runs in a sandbox (as
# a comment in each body and a constant): the hostile corpus test asserts that it never
# appears in anything written for students. The hidden checks hold it too.
REFERENCE_CANARY = "hw3-canary-7c1e5a90d24b4f3e"
