"""The hidden reference solution of Homework 3: the lab functions and the notebook builder."""
