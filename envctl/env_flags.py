"""Yes/no settings read from environment variables, by one rule for every settings module.

    true:   1, true, yes, on        false:  0, false, no, off        (any case)
    unset or empty: the setting's default

Anything else is a ConfigError naming the variable and its value: a typo such as
ENVCTL_TERRAFORM=ture must stop start-up, not quietly turn a feature off.
"""

from __future__ import annotations

from collections.abc import Mapping

from envctl.errors import ConfigError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def env_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean", "use true or false (1/0, yes/no and on/off work too)")
