"""The sandbox: typed JSON protocol, the child runtime, the runner and isolation."""
