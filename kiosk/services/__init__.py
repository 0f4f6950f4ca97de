"""Use cases: each takes a session and explicit arguments, changes rows, never commits."""
