from tests.integration.envs.conftest import cli  # noqa: F401  (the same real-CLI runner)
