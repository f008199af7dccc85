"""The web dashboard: previews, releases live, approvals and locks, read through the core.

    app.py        builds the Starlette app (standalone for `envctl dashboard`, or mounted)
    settings.py   where it listens, its token, and the refusal to be exposed without one
    auth.py       who may act: bearer token for actions (401/403), sign-in when exposed
    catalog.py    environments and releases, read only through envs/service.py and release/service.py
    series.py     pure: per-second rates from many replicas, chart points, the journal fallback
    feed.py       one sampler per watched release, fanned out to every browser (server-sent events)
    actions.py    abort, extend, down: call the core and record the actor in the history
    pages.py      HTML pages (jinja2 templates in templates/)
    api.py        JSON and event-stream routes (the contract in DESIGN.md)
    static/       CSS, the page scripts, and uPlot (vendored from npm, see static/vendor/README.md)

The browser only ever receives sums (connections per version, rates per second), never
per-charger data, so a page costs the same at 30 chargers and at 30,000.
"""
