"""Shared by every tier: the stack fixtures live in a plugin module (unit tests simply never use them)."""

pytest_plugins = ["harness.pytest_stack"]
