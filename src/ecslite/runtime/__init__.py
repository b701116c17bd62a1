"""Runtimes: how a task's sandbox and containers are really run (process, docker, fake)."""
