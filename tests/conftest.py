"""Shared fixtures live in tests/fixtures/ as plugins, one per real dependency."""

pytest_plugins = [
    "tests.fixtures.control_plane",
    "tests.fixtures.ports",
    "tests.fixtures.postgres",
    "tests.fixtures.terraform",
]
