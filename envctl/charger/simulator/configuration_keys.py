"""A simulated charger's OCPP configuration keys (1.6 section 9.1): GetConfiguration / ChangeConfiguration.

Defaults are shared by the whole worker; a charger stores only the keys a central system changed,
so an untouched charger costs nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envctl.charger.simulator.chargepoint import ChargePoint
    from envctl.charger.simulator.settings import SimConfig

# key -> (read-only, kind). Kinds are checked on ChangeConfiguration: int (>= 0), bool, str.
KEYS: dict[str, tuple[bool, str]] = {
    "HeartbeatInterval": (False, "int"),
    "MeterValueSampleInterval": (False, "int"),
    "TransactionMessageAttempts": (False, "int"),
    "TransactionMessageRetryInterval": (False, "int"),
    "ConnectionTimeOut": (False, "int"),
    "ClockAlignedDataInterval": (False, "int"),
    "ResetRetries": (False, "int"),
    "WebSocketPingInterval": (False, "int"),
    "LocalAuthorizeOffline": (False, "bool"),
    "LocalPreAuthorize": (False, "bool"),
    "AuthorizeRemoteTxRequests": (False, "bool"),
    "StopTransactionOnInvalidId": (False, "bool"),
    "MeterValuesSampledData": (False, "str"),
    "NumberOfConnectors": (True, "int"),
    "GetConfigurationMaxKeys": (True, "int"),
    "SupportedFeatureProfiles": (True, "str"),
}


def defaults(cfg: SimConfig) -> dict[str, str]:
    values = {
        "HeartbeatInterval": str(int(cfg.heartbeat_interval or 0)),
        "MeterValueSampleInterval": str(int(cfg.meter_interval)),
        "TransactionMessageAttempts": str(cfg.tx_attempts),
        "TransactionMessageRetryInterval": str(int(cfg.tx_retry_interval)),
        "ConnectionTimeOut": "60",
        "ClockAlignedDataInterval": "0",
        "ResetRetries": "1",
        "WebSocketPingInterval": "0",
        "LocalAuthorizeOffline": "true",
        "LocalPreAuthorize": "false",
        "AuthorizeRemoteTxRequests": "false",
        "StopTransactionOnInvalidId": "true",
        "MeterValuesSampledData": "Energy.Active.Import.Register",
        "NumberOfConnectors": str(cfg.connectors),
        "GetConfigurationMaxKeys": str(len(KEYS) + len(cfg.extra_config)),
        "SupportedFeatureProfiles": "Core,RemoteTrigger",
    }
    values.update(cfg.extra_config)
    return values


def kind_of(key: str, extra: dict[str, str]) -> tuple[bool, str] | None:
    if key in KEYS:
        return KEYS[key]
    if key in extra:
        return (False, "str")
    return None


def get_configuration(cp: ChargePoint, keys: list[str] | None) -> dict[str, Any]:
    extra = cp.ctx.cfg.extra_config
    wanted = keys if keys else [*KEYS, *extra]
    known, unknown = [], []
    for key in wanted:
        spec = kind_of(key, extra)
        if spec is None:
            unknown.append(key)
        else:
            known.append({"key": key, "readonly": spec[0], "value": cp.config_value(key)})
    out: dict[str, Any] = {"configurationKey": known}
    if unknown:
        out["unknownKey"] = unknown
    return out


def change_configuration(cp: ChargePoint, key: str, value: str) -> str:
    """Accepted / Rejected / NotSupported (unknown key), as 1.6 defines them."""
    spec = kind_of(key, cp.ctx.cfg.extra_config)
    if spec is None:
        return "NotSupported"
    readonly, kind = spec
    if readonly:
        return "Rejected"
    if kind == "int":
        try:
            if int(value) < 0:
                return "Rejected"
        except ValueError:
            return "Rejected"
        value = str(int(value))
    elif kind == "bool":
        if value.lower() not in ("true", "false"):
            return "Rejected"
        value = value.lower()
    cp.set_config(key, value)
    return "Accepted"


class ConfiguredCharger:
    """A charger's view of its keys: the worker's defaults, overlaid by what a server changed.

    A mixin of ChargePoint, which owns the `overrides` and `hb_interval` slots.
    """

    __slots__ = ()

    def config_value(self, key: str) -> str:
        if key == "HeartbeatInterval":
            return str(int(self.hb_interval))
        if self.overrides is not None and key in self.overrides:
            return self.overrides[key]
        return self.ctx.config_defaults[key]

    def config_int(self, key: str) -> int:
        return int(self.config_value(key))

    def config_seconds(self, key: str, fleet_default: float) -> float:
        """An interval key: the fleet's (possibly fractional, for tests) value until a server changes it."""
        if self.overrides is not None and key in self.overrides:
            return float(self.overrides[key])
        return fleet_default

    def set_config(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval":
            self.hb_interval = float(value)
            self._arm_heartbeat()
            return
        if self.overrides is None:
            self.overrides = {}
        self.overrides[key] = value
