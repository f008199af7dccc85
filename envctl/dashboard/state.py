"""What every route of one dashboard shares: its settings, the catalog and the feed hub."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from envctl.dashboard.catalog import Catalog
from envctl.dashboard.feed import FeedHub
from envctl.dashboard.settings import DashboardSettings


@dataclass
class DashboardState:
    settings: DashboardSettings
    catalog: Catalog = field(default_factory=Catalog)
    hub: FeedHub = field(init=False)

    def __post_init__(self) -> None:
        self.hub = FeedHub(self.catalog)

    @staticmethod
    def of(request: Request) -> DashboardState:
        state: DashboardState = request.app.state.dashboard
        return state
